// A small persistent thread pool. Work is handed out in chunks from an atomic counter; callers
// must make every index's result independent of which thread ran it (row-parallel quantization
// does), so output is identical for any thread count.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace nibble {

class ThreadPool {
  public:
    // n_threads counts the calling thread; <= 0 means std::thread::hardware_concurrency().
    explicit ThreadPool(int n_threads = 0);
    ~ThreadPool();
    ThreadPool(const ThreadPool &)             = delete;
    ThreadPool & operator=(const ThreadPool &) = delete;

    int size() const { return int(workers_.size()) + 1; }

    // Calls fn(begin, end) on disjoint ranges covering [0, n), in chunks of at most `grain`
    // indices, on all threads including the caller; returns when all are done. The first
    // exception thrown by fn is rethrown here (remaining chunks are skipped).
    void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)> & fn);

  private:
    void worker_loop();
    void run_chunks();

    std::vector<std::thread> workers_;
    std::mutex               mutex_;
    std::condition_variable  wake_;
    std::condition_variable  done_;
    uint64_t                 generation_ = 0;
    int                      busy_       = 0;
    bool                     stop_       = false;

    // The job in flight.
    const std::function<void(int64_t, int64_t)> * fn_ = nullptr;
    int64_t                                        n_  = 0;
    int64_t                                        grain_ = 1;
    std::atomic<int64_t>                           next_{0};
    std::atomic<bool>                              failed_{false};
    std::exception_ptr                             error_;
};

// Threads to use by default: hardware concurrency, at least 1.
int default_thread_count();

}  // namespace nibble
