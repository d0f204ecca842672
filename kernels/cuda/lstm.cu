// Fused pointwise LSTM kernels for minilstm's CuPy kernel set (kernels/gpu/lstm.py).
//
// The maths is kernels/reference/lstm.py's (see there); these kernels are its
// two loop bodies with every gate computed in one pass. The GEMMs (input
// projection, recurrent products, weight gradients) stay in cuBLAS, called
// from kernels/gpu.
//
// Layout: every pointer is one time step's contiguous slice, row-major;
// (B, 4H) rows hold the gate blocks i, f, c (called g here), o, each H wide,
// as in the Keras weight layout. The recurrent product zh is either (B, 4H)
// (one GEMM) or (4, B, H) (one GEMM per gate block, under a per-gate
// recurrent dropout mask): entry (b, k, j) sits at
// b * zh_row_stride + k * zh_block_stride + j. One thread handles one (b, j)
// entry of the (B, H) state and the four gate entries that belong to it, so a
// warp reads 32 consecutive values of each gate block (coalesced).
//
// Launch: 1-D, gridDim.x * blockDim.x >= B * H. Indices are int: kernels/gpu
// refuses B * 4H >= 2^31.
//
// Loaded once by kernels/gpu with cupy.RawModule (NVRTC, --std=c++14); entry
// points are extern "C": lstm_{forward,backward}_step_{f32,f64}.

#include "activations.cuh"

// Where the thread for entry (b, j) of the (B, H) arrays finds its four gates
// in a (B, 4H) array: row b, then the i, f, g, o blocks of H entries each.
struct GateOffsets {
  int i, f, g, o;
};

__device__ __forceinline__ GateOffsets gate_offsets(const int b, const int j, const int row_stride,
                                                    const int block_stride) {
  const int row = b * row_stride + j;
  return {row, row + block_stride, row + 2 * block_stride, row + 3 * block_stride};
}

// One forward step: the body of reference lstm_forward's loop after the
// recurrent matmul.
template <typename T>
__device__ __forceinline__ void forward_step(
    const int B,                      // batch size
    const int H,                      // units
    const T* __restrict__ zx,         // (B, 4H) input projection (x_t * m) @ kernel + bias
    const T* __restrict__ zh,         // recurrent product (h_prev * m) @ recurrent_kernel
    const int zh_row_stride,          // 4H for a (B, 4H) zh, H for a (4, B, H) one
    const int zh_block_stride,        // H for a (B, 4H) zh, B * H for a (4, B, H) one
    const T* __restrict__ h_prev,     // (B, H) hidden state after step t-1 (h0 at the first)
    const T* __restrict__ c_prev,     // (B, H) cell state after step t-1 (c0 at the first)
    const bool* __restrict__ keep,    // (B,) false: row b skips step t (sequence mask)
    const T* __restrict__ rmask,      // (M, B, H) recurrent dropout mask (ones without)
    const int M,                      // blocks of rmask: 1 or 4
    T* __restrict__ gates,            // (B, 4H) out: activated gates i, f, g, o at step t
    T* __restrict__ c,                // (B, H) out: cell state after step t
    T* __restrict__ h,                // (B, H) out: hidden state after step t
    T* __restrict__ h_dropped,        // (M, B, H) out: h * m_k, next step's GEMM operand
    const int activation,             // Activation code of g and of the cell output
    const int recurrent_activation)   // Activation code of i, f, o
{
  const int index = blockIdx.x * blockDim.x + threadIdx.x;  // b * H + j
  if (index >= B * H) return;
  const int b = index / H;
  const int j = index - b * H;
  const GateOffsets x_at = gate_offsets(b, j, 4 * H, H);
  const GateOffsets h_at = gate_offsets(b, j, zh_row_stride, zh_block_stride);

  // z = zx[:, t] + (h_prev * m) @ recurrent_kernel, split into i, f, g, o
  const T i = activate(zx[x_at.i] + zh[h_at.i], recurrent_activation);
  const T f = activate(zx[x_at.f] + zh[h_at.f], recurrent_activation);
  const T g = activate(zx[x_at.g] + zh[h_at.g], activation);
  const T o = activate(zx[x_at.o] + zh[h_at.o], recurrent_activation);

  T c_t = f * c_prev[index] + i * g;     // c = f * c_prev + i * g
  T h_t = o * activate(c_t, activation);  // h = o * act(c)
  if (!keep[b]) {  // a masked step keeps the previous states
    c_t = c_prev[index];
    h_t = h_prev[index];
  }

  gates[x_at.i] = i;
  gates[x_at.f] = f;
  gates[x_at.g] = g;
  gates[x_at.o] = o;
  c[index] = c_t;
  h[index] = h_t;
  store_dropped(index, B * H, h_t, rmask, M, h_dropped);
}

// One backward step: the body of reference lstm_backward's loop before the
// dz @ recurrent_kernel.T matmul(s). dh_skip and dc are read as what step t+1
// sent and overwritten with what step t sends to t-1; each thread touches only
// its own entry, so in place is safe.
template <typename T>
__device__ __forceinline__ void backward_step(
    const int B,                      // batch size
    const int H,                      // units
    const T* __restrict__ dhs_t,      // (B, H) dL/dh_t from the output at step t (zeros if none)
    const T* __restrict__ dh_rec,     // (M, B, H) dz_{t+1,k} @ U_kᵀ from step t+1 (zeros at the end)
    const T* __restrict__ rmask,      // (M, B, H) recurrent dropout mask (ones without)
    const int M,                      // blocks of dh_rec and rmask: 1 or 4
    T* dh_skip,                       // (B, H) in: dL/dh_t around step t+1's GEMM; out: same for t-1
    T* dc,                            // (B, H) in: dc_next from step t+1; out: dc_prev
    const T* __restrict__ c,          // (B, H) cell state after step t
    const T* __restrict__ c_prev,     // (B, H) cell state after step t-1 (c0 at the first step)
    const T* __restrict__ gates,      // (B, 4H) activated gates i, f, g, o at step t (from forward)
    const bool* __restrict__ keep,    // (B,) false: row b skipped step t
    T* __restrict__ dz,               // (B, 4H) out: dL/dz_t, gradient of the pre-activations
    const int activation,             // Activation code of g and of the cell output
    const int recurrent_activation)   // Activation code of i, f, o
{
  const int index = blockIdx.x * blockDim.x + threadIdx.x;  // b * H + j
  if (index >= B * H) return;
  const int b = index / H;
  const int j = index - b * H;
  const GateOffsets at = gate_offsets(b, j, 4 * H, H);

  // h_t feeds both the output at step t and the next step.
  const T dh = incoming_dh(index, B * H, dhs_t, dh_rec, rmask, M, dh_skip);

  if (!keep[b]) {
    // h = carry(mask, h_new, h_prev); c likewise: a masked step passes its
    // gradients straight to the previous states, and none to the cell.
    dh_skip[index] = dh;  // dc[index] carries over unchanged
    dz[at.i] = dz[at.f] = dz[at.g] = dz[at.o] = T(0);
    return;
  }
  dh_skip[index] = T(0);

  const T i = gates[at.i];
  const T f = gates[at.f];
  const T g = gates[at.g];
  const T o = gates[at.o];

  // h = o * act(c); act(c) is recomputed rather than cached
  const T act_c = activate(c[index], activation);
  const T d_o = dh * act_c;  // reference: do (a C++ keyword)
  const T dc_t = dc[index] + dh * o * d_activate(act_c, activation);

  // c = f * c_prev + i * g
  const T df = dc_t * c_prev[index];
  const T di = dc_t * g;
  const T dg = dc_t * i;
  dc[index] = dc_t * f;  // dc_prev

  // i, f, o = rec_act(zi, zf, zo); g = act(zg)
  dz[at.i] = di * d_activate(i, recurrent_activation);
  dz[at.f] = df * d_activate(f, recurrent_activation);
  dz[at.g] = dg * d_activate(g, activation);
  dz[at.o] = d_o * d_activate(o, recurrent_activation);
}

// Entry points: the same parameters as forward_step / backward_step above.

#define MINILSTM_LSTM_ENTRY_POINTS(T, SUFFIX)                                                     \
  extern "C" __global__ void lstm_forward_step_##SUFFIX(                                         \
      const int B, const int H, const T* __restrict__ zx, const T* __restrict__ zh,              \
      const int zh_row_stride, const int zh_block_stride, const T* __restrict__ h_prev,          \
      const T* __restrict__ c_prev, const bool* __restrict__ keep, const T* __restrict__ rmask,  \
      const int M, T* __restrict__ gates, T* __restrict__ c, T* __restrict__ h,                  \
      T* __restrict__ h_dropped, const int activation, const int recurrent_activation) {         \
    forward_step<T>(B, H, zx, zh, zh_row_stride, zh_block_stride, h_prev, c_prev, keep, rmask,   \
                    M, gates, c, h, h_dropped, activation, recurrent_activation);                \
  }                                                                                              \
  extern "C" __global__ void lstm_backward_step_##SUFFIX(                                        \
      const int B, const int H, const T* __restrict__ dhs_t, const T* __restrict__ dh_rec,       \
      const T* __restrict__ rmask, const int M, T* dh_skip, T* dc, const T* __restrict__ c,      \
      const T* __restrict__ c_prev, const T* __restrict__ gates, const bool* __restrict__ keep,  \
      T* __restrict__ dz, const int activation, const int recurrent_activation) {                \
    backward_step<T>(B, H, dhs_t, dh_rec, rmask, M, dh_skip, dc, c, c_prev, gates, keep, dz,     \
                     activation, recurrent_activation);                                          \
  }

MINILSTM_LSTM_ENTRY_POINTS(float, f32)
MINILSTM_LSTM_ENTRY_POINTS(double, f64)
