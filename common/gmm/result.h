// A minimal Result<T, E> usable in freestanding code (no exceptions, no heap).
#pragma once

#include <new>
#include <utility>

namespace gmm {

template <typename E>
struct Err {
    E error;
};
template <typename E>
Err(E) -> Err<E>;

template <typename T, typename E>
class [[nodiscard]] Result {
public:
    Result(const T& v) : ok_(true) { new (&storage_.value) T(v); }
    Result(T&& v) : ok_(true) { new (&storage_.value) T(std::move(v)); }
    template <typename F>
    Result(Err<F> e) : ok_(false) { new (&storage_.error) E(std::move(e.error)); }
    Result(const Result& o) : ok_(o.ok_) {
        if (ok_) new (&storage_.value) T(o.storage_.value);
        else new (&storage_.error) E(o.storage_.error);
    }
    Result(Result&& o) : ok_(o.ok_) {
        if (ok_) new (&storage_.value) T(std::move(o.storage_.value));
        else new (&storage_.error) E(std::move(o.storage_.error));
    }
    Result& operator=(Result o) {
        this->~Result();
        new (this) Result(std::move(o));
        return *this;
    }
    ~Result() {
        if (ok_) storage_.value.~T();
        else storage_.error.~E();
    }

    bool ok() const { return ok_; }
    explicit operator bool() const { return ok_; }
    T& value() { return storage_.value; }
    const T& value() const { return storage_.value; }
    T* operator->() { return &storage_.value; }
    const T* operator->() const { return &storage_.value; }
    T& operator*() { return storage_.value; }
    const T& operator*() const { return storage_.value; }
    E& error() { return storage_.error; }
    const E& error() const { return storage_.error; }

private:
    bool ok_;
    union Storage {
        Storage() {}
        ~Storage() {}
        T value;
        E error;
    } storage_;
};

// Result<void, E>
struct Ok {};

template <typename E>
class [[nodiscard]] Status {
public:
    Status(Ok) : ok_(true) {}
    template <typename F>
    Status(Err<F> e) : ok_(false), error_(std::move(e.error)) {}
    bool ok() const { return ok_; }
    explicit operator bool() const { return ok_; }
    const E& error() const { return error_; }
    E& error() { return error_; }

private:
    bool ok_;
    E error_{};
};

}  // namespace gmm
