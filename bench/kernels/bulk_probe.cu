/*
Kernel lab: how fast can the copy engine stream weights into shared memory? The staged GEMV
tried in this lab (a kernel that fed its warps with cp.async.bulk copies into per-warp rings; see
docs/performance.md for why it was dropped) is only worth having if the engine itself can stream at
the memory's rate. This probe strips the decoding away and streams a 2 GiB buffer (far beyond L2) the same way —
each warp owns an equal contiguous range, lane 0 keeps `depth` copies of `stage` bytes in flight,
the warp reads every byte back from shared memory — and compares with plain 16-byte register loads.
Sweeps stage size, depth, warps per block and blocks per SM.

Build: cmake --build build --target bulk_probe     Run: build/bench/kernels/bulk_probe
*/
#include "lab.cuh"

namespace nibble::lab {
namespace {

// The copy engine (sm_90): one thread hands a contiguous global range (16-byte aligned, size a
// multiple of 16) to the bulk-copy unit, which writes it to shared memory and counts the bytes on an
// mbarrier; consumers wait on the barrier's phase. No registers hold data in flight.
__device__ __forceinline__ uint32_t smem_addr(const void * p) { return uint32_t(__cvta_generic_to_shared(p)); }

__device__ __forceinline__ void mbar_init(uint64_t * bar, uint32_t count) {
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(smem_addr(bar)), "r"(count) : "memory");
}

// Makes the initialised barriers visible to the copy engine (async proxy).
__device__ __forceinline__ void mbar_init_fence() {
    asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
}

__device__ __forceinline__ void mbar_expect_tx(uint64_t * bar, uint32_t bytes) {
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(smem_addr(bar)), "r"(bytes)
                 : "memory");
}

__device__ __forceinline__ void bulk_copy_g2s(void * dst, const void * src, uint32_t bytes, uint64_t * bar) {
    asm volatile(
        "cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];" ::"r"(smem_addr(dst)),
        "l"(src), "r"(bytes), "r"(smem_addr(bar))
        : "memory");
}

// Spins until the barrier's phase `parity` has completed. A copy that never lands (a bug, not a
// condition of the input) traps after ~2^31 polls instead of hanging the stream.
__device__ __forceinline__ void mbar_wait(uint64_t * bar, uint32_t parity) {
    const uint32_t addr = smem_addr(bar);
    for (uint32_t spin = 0;; ++spin) {
        uint32_t done = 0;
        asm volatile(
            "{\n .reg .pred p;\n mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n selp.u32 %0, 1, 0, p;\n}"
            : "=r"(done)
            : "r"(addr), "r"(parity)
            : "memory");
        if (done) {
            return;
        }
        if (spin == 0x7fffffffu) {
            __trap();
        }
    }
}


__global__ void bulk_stream_kernel(const uint8_t * src, int64_t bytes, int stage, int depth, uint32_t * sink) {
    extern __shared__ __align__(128) uint8_t smem[];
    const int  lane  = int(threadIdx.x) & 31;
    const int  warp  = int(threadIdx.x) >> 5;
    const int  warps = int(blockDim.x) >> 5;
    uint64_t * bars  = reinterpret_cast<uint64_t *>(smem) + warp * depth;
    uint8_t *  ring  = smem + 128 * 64 + int64_t(warp) * depth * stage;

    const int64_t tw    = int64_t(gridDim.x) * warps;
    const int64_t gw    = int64_t(blockIdx.x) * warps + warp;
    const int64_t nst   = bytes / stage;
    const int64_t s0    = gw * nst / tw;
    const int     total = int((gw + 1) * nst / tw - s0);
    auto          issue = [&](int t) {
        uint64_t * bar = bars + t % depth;
        mbar_expect_tx(bar, uint32_t(stage));
        bulk_copy_g2s(ring + (t % depth) * stage, src + (s0 + t) * stage, uint32_t(stage), bar);
    };
    if (lane == 0) {
        for (int d = 0; d < depth; ++d) {
            mbar_init(bars + d, 1);
        }
        mbar_init_fence();
        for (int t = 0; t < min(depth, total); ++t) {
            issue(t);
        }
    }
    __syncwarp();
    uint32_t acc = 0;
    for (int t = 0; t < total; ++t) {
        mbar_wait(bars + t % depth, uint32_t(t / depth) & 1u);
        const uint8_t * slot = ring + (t % depth) * stage;
        for (int o = lane * 16; o < stage; o += 512) {
            const uint4 v = *reinterpret_cast<const uint4 *>(slot + o);
            acc ^= v.x ^ v.y ^ v.z ^ v.w;
        }
        __syncwarp();
        if (lane == 0 && t + depth < total) {
            issue(t + depth);
        }
    }
    if (acc == 0x9e3779b9u) {
        *sink = acc;
    }
}

}  // namespace
}  // namespace nibble::lab

int main() {
    using namespace nibble;
    using namespace nibble::lab;
    cuda::Context       ctx;
    cudaStream_t        s    = ctx.stream();
    const int           sms  = ctx.num_sms();
    const CopyBandwidth cb   = measure_copy(s, sms);
    const double        read = measure_read_gbps(s, sms);
    std::printf("device: %s, %d SMs; copy %.0f GB/s, register read-only stream %.0f GB/s\n\n", ctx.name().c_str(),
                sms, cb.best(), read);

    const size_t bytes = size_t(2) << 30;
    auto         a     = device_alloc<uint8_t>(bytes);
    auto         sink  = device_alloc<uint32_t>(1);
    CUDA_CHECK(cudaMemsetAsync(a.get(), 1, bytes, s));
    CUDA_CHECK(cudaFuncSetAttribute(bulk_stream_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, 227 * 1024));
    std::printf("| stage B | depth | warps | blocks/SM | ring KB/SM | GB/s | %% of register read |\n|---|---|---|---|---|---|---|\n");
    for (int stage : { 2048, 4096, 8192, 16384 }) {
        for (int depth : { 2, 4, 8 }) {
            for (int warps : { 4, 8, 16 }) {
                for (int bps : { 1, 2 }) {
                    const int smem = 128 * 64 + warps * depth * stage;
                    if (smem * bps > 200 * 1024) {
                        continue;
                    }
                    const double ms = time_graph_ms(s, 2, [&](int) {
                        cudaLaunchConfig_t cfg{};
                        cfg.gridDim          = dim3(unsigned(sms * bps));
                        cfg.blockDim         = dim3(unsigned(32 * warps));
                        cfg.dynamicSmemBytes = size_t(smem);
                        cfg.stream           = s;
                        CUDA_CHECK(cudaLaunchKernelEx(&cfg, bulk_stream_kernel, static_cast<const uint8_t *>(a.get()),
                                                      int64_t(bytes), stage, depth, sink.get()));
                    });
                    const double gbps = 2.0 * double(bytes) / (ms * 1e6);
                    std::printf("| %d | %d | %d | %d | %d | %.0f | %.1f%% |\n", stage, depth, warps, bps,
                                bps * warps * depth * stage / 1024, gbps, 100.0 * gbps / read);
                    std::fflush(stdout);
                }
            }
        }
    }
    return 0;
}
