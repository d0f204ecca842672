// Fused pointwise SimpleRNN kernels for minilstm's CuPy kernel set (kernels/gpu/simple_rnn.py).
//
// The maths is kernels/reference/simple_rnn.py's (see there): a = x_t @ kernel
// + bias + (h_prev * m) @ recurrent_kernel, h = act(a). Layout, launch and index
// limits are lstm.cu's: one thread per (b, j) entry of the (B, H) state, every
// pointer one time step's contiguous slice. Entry points are extern "C":
// simple_rnn_{forward,backward}_step_{f32,f64}.

#include "activations.cuh"

// One forward step: reference simple_rnn_forward's loop body after the recurrent matmul.
template <typename T>
__device__ __forceinline__ void forward_step(
    const int B,                      // batch size
    const int H,                      // units
    const T* __restrict__ ax,         // (B, H) input projection (x_t * m) @ kernel + bias
    const T* __restrict__ ah,         // (B, H) recurrent product (h_prev * m) @ recurrent_kernel
    const T* __restrict__ h_prev,     // (B, H) state after step t-1 (h0 at the first)
    const bool* __restrict__ keep,    // (B,) false: row b skips step t (sequence mask)
    const T* __restrict__ rmask,      // (M, B, H) recurrent dropout mask (ones without)
    const int M,                      // blocks of rmask: 1
    T* __restrict__ h,                // (B, H) out: state after step t
    T* __restrict__ h_dropped,        // (M, B, H) out: h * m, next step's GEMM operand
    const int activation)             // Activation code of h
{
  const int index = blockIdx.x * blockDim.x + threadIdx.x;  // b * H + j
  if (index >= B * H) return;
  const int b = index / H;
  const T h_t = keep[b] ? activate(ax[index] + ah[index], activation)  // h = act(a)
                        : h_prev[index];                               // masked: keep h_prev
  h[index] = h_t;
  store_dropped(index, B * H, h_t, rmask, M, h_dropped);
}

// One backward step: reference simple_rnn_backward's loop body before the
// da @ recurrent_kernel.T matmul. The derivative is read off the output h,
// which for a step that ran is act(a) (a masked step's da is 0 anyway).
template <typename T>
__device__ __forceinline__ void backward_step(
    const int B,                      // batch size
    const int H,                      // units
    const T* __restrict__ dhs_t,      // (B, H) dL/dh_t from the output at step t (zeros if none)
    const T* __restrict__ dh_rec,     // (M, B, H) da_{t+1} @ recurrent_kernelᵀ from step t+1
    const T* __restrict__ rmask,      // (M, B, H) recurrent dropout mask (ones without)
    const int M,                      // blocks of dh_rec and rmask: 1
    T* dh_skip,                       // (B, H) in/out: dL/dh carried around masked steps
    const T* __restrict__ h,          // (B, H) state after step t (from forward)
    const bool* __restrict__ keep,    // (B,) false: row b skipped step t
    T* __restrict__ da,               // (B, H) out: dL/da_t
    const int activation)             // Activation code of h
{
  const int index = blockIdx.x * blockDim.x + threadIdx.x;  // b * H + j
  if (index >= B * H) return;
  const int b = index / H;
  const T dh = incoming_dh(index, B * H, dhs_t, dh_rec, rmask, M, dh_skip);
  if (!keep[b]) {  // h = carry(mask, h_new, h_prev)
    dh_skip[index] = dh;
    da[index] = T(0);
    return;
  }
  dh_skip[index] = T(0);
  da[index] = dh * d_activate(h[index], activation);  // h = act(a)
}

#define MINILSTM_SIMPLE_RNN_ENTRY_POINTS(T, SUFFIX)                                               \
  extern "C" __global__ void simple_rnn_forward_step_##SUFFIX(                                   \
      const int B, const int H, const T* __restrict__ ax, const T* __restrict__ ah,              \
      const T* __restrict__ h_prev, const bool* __restrict__ keep, const T* __restrict__ rmask,  \
      const int M, T* __restrict__ h, T* __restrict__ h_dropped, const int activation) {         \
    forward_step<T>(B, H, ax, ah, h_prev, keep, rmask, M, h, h_dropped, activation);             \
  }                                                                                              \
  extern "C" __global__ void simple_rnn_backward_step_##SUFFIX(                                  \
      const int B, const int H, const T* __restrict__ dhs_t, const T* __restrict__ dh_rec,       \
      const T* __restrict__ rmask, const int M, T* dh_skip, const T* __restrict__ h,             \
      const bool* __restrict__ keep, T* __restrict__ da, const int activation) {                 \
    backward_step<T>(B, H, dhs_t, dh_rec, rmask, M, dh_skip, h, keep, da, activation);           \
  }

MINILSTM_SIMPLE_RNN_ENTRY_POINTS(float, f32)
MINILSTM_SIMPLE_RNN_ENTRY_POINTS(double, f64)
