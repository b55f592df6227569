#include "core/thread_pool.h"

#include <algorithm>

namespace nibble {

int default_thread_count() { return std::max(1, int(std::thread::hardware_concurrency())); }

ThreadPool::ThreadPool(int n_threads) {
    const int total = n_threads > 0 ? n_threads : default_thread_count();
    workers_.reserve(size_t(total - 1));
    for (int i = 1; i < total; ++i) {
        workers_.emplace_back([this] { worker_loop(); });
    }
}

ThreadPool::~ThreadPool() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stop_ = true;
    }
    wake_.notify_all();
    for (std::thread & t : workers_) {
        t.join();
    }
}

void ThreadPool::run_chunks() {
    for (;;) {
        if (failed_.load(std::memory_order_relaxed)) {
            return;
        }
        const int64_t begin = next_.fetch_add(grain_, std::memory_order_relaxed);
        if (begin >= n_) {
            return;
        }
        const int64_t end = std::min(n_, begin + grain_);
        try {
            (*fn_)(begin, end);
        } catch (...) {
            std::lock_guard<std::mutex> lock(mutex_);
            if (!failed_.exchange(true)) {
                error_ = std::current_exception();
            }
            return;
        }
    }
}

void ThreadPool::worker_loop() {
    uint64_t seen = 0;
    for (;;) {
        {
            std::unique_lock<std::mutex> lock(mutex_);
            wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
            if (stop_) {
                return;
            }
            seen = generation_;
        }
        run_chunks();
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (--busy_ == 0) {
                done_.notify_all();
            }
        }
    }
}

void ThreadPool::parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)> & fn) {
    if (n <= 0) {
        return;
    }
    grain = std::max<int64_t>(1, grain);
    if (workers_.empty() || n <= grain) {
        fn(0, n);
        return;
    }
    {
        std::lock_guard<std::mutex> lock(mutex_);
        fn_    = &fn;
        n_     = n;
        grain_ = grain;
        next_.store(0);
        failed_.store(false);
        error_ = nullptr;
        busy_  = int(workers_.size());
        ++generation_;
    }
    wake_.notify_all();
    run_chunks();
    std::exception_ptr err;
    {
        std::unique_lock<std::mutex> lock(mutex_);
        done_.wait(lock, [&] { return busy_ == 0; });
        fn_ = nullptr;
        err = error_;
    }
    if (err) {
        std::rethrow_exception(err);
    }
}

}  // namespace nibble
