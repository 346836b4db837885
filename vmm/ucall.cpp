// placeholder: being written (see vmm/meson.build)
