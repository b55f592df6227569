#include "core/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <vector>

namespace nibble {
namespace {

TEST(ThreadPool, CoversEveryIndexExactlyOnce) {
    for (int threads : {1, 2, 3, 8}) {
        ThreadPool pool(threads);
        EXPECT_EQ(pool.size(), threads);
        for (int64_t n : {0, 1, 7, 1000, 4097}) {
            std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
            pool.parallel_for(n, 13, [&](int64_t b, int64_t e) {
                for (int64_t i = b; i < e; ++i) {
                    hits[size_t(i)]++;
                }
            });
            for (int64_t i = 0; i < n; ++i) {
                ASSERT_EQ(hits[size_t(i)].load(), 1) << "threads " << threads << " n " << n << " i " << i;
            }
        }
    }
}

TEST(ThreadPool, RethrowsTheFirstException) {
    ThreadPool pool(4);
    EXPECT_THROW(pool.parallel_for(100, 1,
                                   [](int64_t b, int64_t) {
                                       if (b == 42) {
                                           throw std::runtime_error("boom");
                                       }
                                   }),
                 std::runtime_error);
    // The pool stays usable after a failed job.
    std::atomic<int64_t> sum{0};
    pool.parallel_for(10, 1, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) {
            sum += i;
        }
    });
    EXPECT_EQ(sum.load(), 45);
}

}  // namespace
}  // namespace nibble
