#!/bin/sh
# Runs the stress binary; with ASLR disabled when setarch allows it, because
# gcc-12 ThreadSanitizer fails ("unexpected memory mapping") under the large
# mmap randomisation of recent kernels. Harmless for non-TSan builds.
if setarch "$(uname -m)" -R true 2>/dev/null; then
  exec setarch "$(uname -m)" -R "$@"
fi
exec "$@"
