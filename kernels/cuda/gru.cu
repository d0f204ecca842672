// Fused pointwise GRU kernels for minilstm's CuPy kernel set (kernels/gpu/gru.py).
//
// The maths is kernels/reference/gru.py's (see there), gate blocks z, r, h
// (candidate, called hh) each H wide. Layout, launch and index limits are
// lstm.cu's: one thread per (b, j) entry of the (B, H) state; every pointer is
// one time step's contiguous slice; a recurrent product zh is (B, GH) or
// (G, B, H), entry (b, k, j) at b * zh_row_stride + k * zh_block_stride + j.
//
// reset_after=True (Keras 3, cuDNN's form) takes one kernel per step each way:
//   gru_forward_step, gru_backward_step.
// reset_after=False needs the recurrent GEMM of the candidate, (r * h_prev) @ U_h,
// between its gate and candidate maths, so each step is two kernels around it:
//   forward:  gru_gates_step -> rh @ U_h -> gru_candidate_step
//   backward: gru_backward_candidate_step -> dah @ U_hᵀ -> gru_backward_reset_step
// Entry points are extern "C", suffixed _f32 / _f64.

#include "activations.cuh"

// reset_after=True, one forward step: reference gru_forward's loop body after
// the recurrent matmul (which comes without b_rec; it is added here).
template <typename T>
__device__ __forceinline__ void forward_step(
    const int B,                      // batch size
    const int H,                      // units
    const T* __restrict__ xp,         // (B, 3H) input projection (x_t * m) @ kernel + b_in
    const T* __restrict__ zh,         // recurrent product (h_prev * m) @ recurrent_kernel
    const int zh_row_stride,          // 3H for a (B, 3H) zh, H for a (3, B, H) one
    const int zh_block_stride,        // H for a (B, 3H) zh, B * H for a (3, B, H) one
    const T* __restrict__ b_rec,      // (3H,) recurrent bias, bias[1]
    const T* __restrict__ h_prev,     // (B, H) state after step t-1 (h0 at the first)
    const bool* __restrict__ keep,    // (B,) false: row b skips step t (sequence mask)
    const T* __restrict__ rmask,      // (M, B, H) recurrent dropout mask (ones without)
    const int M,                      // blocks of rmask: 1 or 3
    T* __restrict__ gates,            // (B, 3H) out: z, r, hh at step t
    T* __restrict__ recurrent_h,      // (B, H) out: hh_ = (h_prev * m_h) @ U_h + b_rh
    T* __restrict__ h,                // (B, H) out: state after step t
    T* __restrict__ h_dropped,        // (M, B, H) out: h * m_k, next step's GEMM operand
    const int activation,             // Activation code of the candidate
    const int recurrent_activation)   // Activation code of z and r
{
  const int index = blockIdx.x * blockDim.x + threadIdx.x;  // b * H + j
  if (index >= B * H) return;
  const int b = index / H;
  const int j = index - b * H;
  const int x_at = b * 3 * H + j;  // block z of row b; r at + H, h at + 2H
  const int h_at = b * zh_row_stride + j;

  const T hh_ = zh[h_at + 2 * zh_block_stride] + b_rec[2 * H + j];
  const T z = activate(xp[x_at] + (zh[h_at] + b_rec[j]), recurrent_activation);
  const T r = activate(xp[x_at + H] + (zh[h_at + zh_block_stride] + b_rec[H + j]),
                       recurrent_activation);
  const T hh = activate(xp[x_at + 2 * H] + r * hh_, activation);  // hh = act(xh + r * hh_)
  const T hp = h_prev[index];
  const T h_t = keep[b] ? z * hp + (T(1) - z) * hh : hp;  // a masked step keeps h_prev

  gates[x_at] = z;
  gates[x_at + H] = r;
  gates[x_at + 2 * H] = hh;
  recurrent_h[index] = hh_;
  h[index] = h_t;
  store_dropped(index, B * H, h_t, rmask, M, h_dropped);
}

// reset_after=False, first half of a forward step: z and r, and the operand
// of the candidate's recurrent GEMM.
template <typename T>
__device__ __forceinline__ void gates_step(
    const int B,                      // batch size
    const int H,                      // units
    const T* __restrict__ xp,         // (B, 3H) input projection (x_t * m) @ kernel + bias
    const T* __restrict__ zh,         // (h_prev * m) @ recurrent_kernel[:, :2H], blocks z, r
    const int zh_row_stride,          // 2H for a (B, 2H) zh, H for a (2, B, H) one
    const int zh_block_stride,        // H for a (B, 2H) zh, B * H for a (2, B, H) one
    const T* __restrict__ h_cand,     // (B, H) h_prev * m_h (the candidate block's dropout)
    T* __restrict__ gates,            // (B, 3H) out: z, r at step t (hh: gru_candidate_step)
    T* __restrict__ rh,               // (B, H) out: r * h_prev * m_h, the GEMM's operand
    const int recurrent_activation)   // Activation code of z and r
{
  const int index = blockIdx.x * blockDim.x + threadIdx.x;  // b * H + j
  if (index >= B * H) return;
  const int b = index / H;
  const int j = index - b * H;
  const int x_at = b * 3 * H + j;
  const int h_at = b * zh_row_stride + j;

  const T z = activate(xp[x_at] + zh[h_at], recurrent_activation);
  const T r = activate(xp[x_at + H] + zh[h_at + zh_block_stride], recurrent_activation);
  gates[x_at] = z;
  gates[x_at + H] = r;
  rh[index] = r * h_cand[index];
}

// reset_after=False, second half: hh = act(xh + (r * h_masked) @ U_h), the new state.
template <typename T>
__device__ __forceinline__ void candidate_step(
    const int B,                      // batch size
    const int H,                      // units
    const T* __restrict__ xp,         // (B, 3H) input projection; block h read here
    const T* __restrict__ rh_rec,     // (B, H) (r * h_prev * m_h) @ recurrent_kernel[:, 2H:]
    const T* __restrict__ h_prev,     // (B, H) state after step t-1
    const bool* __restrict__ keep,    // (B,) false: row b skips step t
    const T* __restrict__ rmask,      // (M, B, H) recurrent dropout mask (ones without)
    const int M,                      // blocks of rmask: 1 or 3
    T* __restrict__ gates,            // (B, 3H) in: z (block 0); out: hh (block 2)
    T* __restrict__ h,                // (B, H) out: state after step t
    T* __restrict__ h_dropped,        // (M, B, H) out: h * m_k, next step's GEMM operand
    const int activation)             // Activation code of the candidate
{
  const int index = blockIdx.x * blockDim.x + threadIdx.x;  // b * H + j
  if (index >= B * H) return;
  const int b = index / H;
  const int j = index - b * H;
  const int x_at = b * 3 * H + j;

  const T z = gates[x_at];
  const T hh = activate(xp[x_at + 2 * H] + rh_rec[index], activation);
  const T hp = h_prev[index];
  const T h_t = keep[b] ? z * hp + (T(1) - z) * hh : hp;  // a masked step keeps h_prev

  gates[x_at + 2 * H] = hh;
  h[index] = h_t;
  store_dropped(index, B * H, h_t, rmask, M, h_dropped);
}

// reset_after=True, one backward step: reference gru_backward's loop body
// before the recurrent matmul(s). dh_skip is read as what step t+1 sent around
// its GEMMs and overwritten with what step t sends to t-1 (own entry only).
template <typename T>
__device__ __forceinline__ void backward_step(
    const int B,                      // batch size
    const int H,                      // units
    const T* __restrict__ dhs_t,      // (B, H) dL/dh_t from the output at step t (zeros if none)
    const T* __restrict__ dh_rec,     // (M, B, H) drec_{t+1,k} @ U_kᵀ from step t+1
    const T* __restrict__ rmask,      // (M, B, H) recurrent dropout mask (ones without)
    const int M,                      // blocks of dh_rec and rmask: 1 or 3
    T* dh_skip,                       // (B, H) in/out: dL/dh around the GEMMs (z * dh, carries)
    const T* __restrict__ h_prev,     // (B, H) state after step t-1 (h0 at the first)
    const T* __restrict__ gates,      // (B, 3H) z, r, hh at step t (from forward)
    const T* __restrict__ recurrent_h,  // (B, H) hh_ at step t (from forward)
    const bool* __restrict__ keep,    // (B,) false: row b skipped step t
    T* __restrict__ dxp,              // (B, 3H) out: daz, dar, dah (the input projection's grad)
    T* __restrict__ drec,             // (B, 3H) out: daz, dar, dhh_ (the recurrent product's)
    const int activation,             // Activation code of the candidate
    const int recurrent_activation)   // Activation code of z and r
{
  const int index = blockIdx.x * blockDim.x + threadIdx.x;  // b * H + j
  if (index >= B * H) return;
  const int b = index / H;
  const int j = index - b * H;
  const int at = b * 3 * H + j;

  const T dh = incoming_dh(index, B * H, dhs_t, dh_rec, rmask, M, dh_skip);
  if (!keep[b]) {  // h = carry(mask, h_new, h_prev): all of dh goes to h_prev
    dh_skip[index] = dh;
    dxp[at] = dxp[at + H] = dxp[at + 2 * H] = T(0);
    drec[at] = drec[at + H] = drec[at + 2 * H] = T(0);
    return;
  }
  const T z = gates[at];
  const T r = gates[at + H];
  const T hh = gates[at + 2 * H];

  // h = z * h_prev + (1 - z) * hh
  const T dz = dh * (h_prev[index] - hh);
  const T dhh = dh * (T(1) - z);
  dh_skip[index] = dh * z;
  // hh = act(ah), ah = xh + r * hh_
  const T dah = dhh * d_activate(hh, activation);
  const T dr = dah * recurrent_h[index];
  // z = rec_act(az), r = rec_act(ar)
  const T daz = dz * d_activate(z, recurrent_activation);
  const T dar = dr * d_activate(r, recurrent_activation);

  dxp[at] = daz;
  dxp[at + H] = dar;
  dxp[at + 2 * H] = dah;
  drec[at] = daz;
  drec[at + H] = dar;
  drec[at + 2 * H] = dah * r;  // dhh_
}

// reset_after=False, first half of a backward step: everything but the reset
// gate, whose gradient needs dah @ U_hᵀ (the GEMM between the two kernels).
template <typename T>
__device__ __forceinline__ void backward_candidate_step(
    const int B,                      // batch size
    const int H,                      // units
    const T* __restrict__ dhs_t,      // (B, H) dL/dh_t from the output at step t (zeros if none)
    const T* __restrict__ dh_rec,     // (M, B, H) [daz, dar]_{t+1,k} @ U_kᵀ from step t+1
    const T* __restrict__ rmask,      // (M, B, H) masks of blocks z, r (ones without)
    const int M,                      // blocks of dh_rec and rmask: 1 or 2
    T* dh_skip,                       // (B, H) in/out: dL/dh around the z, r GEMMs
    const T* __restrict__ h_prev,     // (B, H) state after step t-1 (h0 at the first)
    const T* __restrict__ gates,      // (B, 3H) z, r, hh at step t (from forward)
    const bool* __restrict__ keep,    // (B,) false: row b skipped step t
    T* __restrict__ dxp,              // (B, 3H) out: daz (block 0), dah (block 2), 0 (block 1
                                      //   of a masked row; gru_backward_reset_step writes dar)
    const int activation,             // Activation code of the candidate
    const int recurrent_activation)   // Activation code of z
{
  const int index = blockIdx.x * blockDim.x + threadIdx.x;  // b * H + j
  if (index >= B * H) return;
  const int b = index / H;
  const int j = index - b * H;
  const int at = b * 3 * H + j;

  const T dh = incoming_dh(index, B * H, dhs_t, dh_rec, rmask, M, dh_skip);
  if (!keep[b]) {  // h = carry(mask, h_new, h_prev)
    dh_skip[index] = dh;
    dxp[at] = dxp[at + H] = dxp[at + 2 * H] = T(0);
    return;
  }
  const T z = gates[at];
  const T hh = gates[at + 2 * H];
  // h = z * h_prev + (1 - z) * hh
  const T dz = dh * (h_prev[index] - hh);
  const T dhh = dh * (T(1) - z);
  dh_skip[index] = dh * z;
  // hh = act(ah); z = rec_act(az)
  dxp[at] = dz * d_activate(z, recurrent_activation);
  dxp[at + 2 * H] = dhh * d_activate(hh, activation);
}

// reset_after=False, second half: ah = xh + (r * h_prev * m_h) @ U_h, given drh = dah @ U_hᵀ.
template <typename T>
__device__ __forceinline__ void backward_reset_step(
    const int B,                      // batch size
    const int H,                      // units
    const T* __restrict__ drh,        // (B, H) dah @ recurrent_kernel[:, 2H:]ᵀ
    const T* __restrict__ h_prev,     // (B, H) state after step t-1
    const T* __restrict__ cand_mask,  // (B, H) recurrent dropout mask of block h (ones without)
    const T* __restrict__ gates,      // (B, 3H) z, r, hh at step t (from forward)
    const bool* __restrict__ keep,    // (B,) false: row b skipped step t
    T* dh_skip,                       // (B, H) in/out: adds r * m_h * drh
    T* __restrict__ dxp,              // (B, 3H) out: dar (block 1)
    const int recurrent_activation)   // Activation code of r
{
  const int index = blockIdx.x * blockDim.x + threadIdx.x;  // b * H + j
  if (index >= B * H) return;
  const int b = index / H;
  const int j = index - b * H;
  const int at = b * 3 * H + j;
  if (!keep[b]) return;  // dxp's block 1 is already 0, dh_skip already the carry

  const T r = gates[at + H];
  const T m = cand_mask[index];
  const T d = drh[index];
  const T dr = d * (h_prev[index] * m);  // dr = drh * h_masked
  dxp[at + H] = dr * d_activate(r, recurrent_activation);
  dh_skip[index] += d * r * m;  // drh_prev * m_h
}

#define MINILSTM_GRU_ENTRY_POINTS(T, SUFFIX)                                                      \
  extern "C" __global__ void gru_forward_step_##SUFFIX(                                          \
      const int B, const int H, const T* __restrict__ xp, const T* __restrict__ zh,              \
      const int zh_row_stride, const int zh_block_stride, const T* __restrict__ b_rec,           \
      const T* __restrict__ h_prev, const bool* __restrict__ keep, const T* __restrict__ rmask,  \
      const int M, T* __restrict__ gates, T* __restrict__ recurrent_h, T* __restrict__ h,        \
      T* __restrict__ h_dropped, const int activation, const int recurrent_activation) {         \
    forward_step<T>(B, H, xp, zh, zh_row_stride, zh_block_stride, b_rec, h_prev, keep, rmask, M, \
                    gates, recurrent_h, h, h_dropped, activation, recurrent_activation);         \
  }                                                                                              \
  extern "C" __global__ void gru_gates_step_##SUFFIX(                                            \
      const int B, const int H, const T* __restrict__ xp, const T* __restrict__ zh,              \
      const int zh_row_stride, const int zh_block_stride, const T* __restrict__ h_cand,          \
      T* __restrict__ gates, T* __restrict__ rh, const int recurrent_activation) {               \
    gates_step<T>(B, H, xp, zh, zh_row_stride, zh_block_stride, h_cand, gates, rh,               \
                  recurrent_activation);                                                         \
  }                                                                                              \
  extern "C" __global__ void gru_candidate_step_##SUFFIX(                                        \
      const int B, const int H, const T* __restrict__ xp, const T* __restrict__ rh_rec,          \
      const T* __restrict__ h_prev, const bool* __restrict__ keep, const T* __restrict__ rmask,  \
      const int M, T* __restrict__ gates, T* __restrict__ h, T* __restrict__ h_dropped,          \
      const int activation) {                                                                    \
    candidate_step<T>(B, H, xp, rh_rec, h_prev, keep, rmask, M, gates, h, h_dropped,             \
                      activation);                                                               \
  }                                                                                              \
  extern "C" __global__ void gru_backward_step_##SUFFIX(                                         \
      const int B, const int H, const T* __restrict__ dhs_t, const T* __restrict__ dh_rec,       \
      const T* __restrict__ rmask, const int M, T* dh_skip, const T* __restrict__ h_prev,        \
      const T* __restrict__ gates, const T* __restrict__ recurrent_h,                            \
      const bool* __restrict__ keep, T* __restrict__ dxp, T* __restrict__ drec,                  \
      const int activation, const int recurrent_activation) {                                    \
    backward_step<T>(B, H, dhs_t, dh_rec, rmask, M, dh_skip, h_prev, gates, recurrent_h, keep,   \
                     dxp, drec, activation, recurrent_activation);                               \
  }                                                                                              \
  extern "C" __global__ void gru_backward_candidate_step_##SUFFIX(                               \
      const int B, const int H, const T* __restrict__ dhs_t, const T* __restrict__ dh_rec,       \
      const T* __restrict__ rmask, const int M, T* dh_skip, const T* __restrict__ h_prev,        \
      const T* __restrict__ gates, const bool* __restrict__ keep, T* __restrict__ dxp,           \
      const int activation, const int recurrent_activation) {                                    \
    backward_candidate_step<T>(B, H, dhs_t, dh_rec, rmask, M, dh_skip, h_prev, gates, keep, dxp, \
                               activation, recurrent_activation);                                \
  }                                                                                              \
  extern "C" __global__ void gru_backward_reset_step_##SUFFIX(                                   \
      const int B, const int H, const T* __restrict__ drh, const T* __restrict__ h_prev,         \
      const T* __restrict__ cand_mask, const T* __restrict__ gates,                              \
      const bool* __restrict__ keep, T* dh_skip, T* __restrict__ dxp,                            \
      const int recurrent_activation) {                                                          \
    backward_reset_step<T>(B, H, drh, h_prev, cand_mask, gates, keep, dh_skip, dxp,              \
                           recurrent_activation);                                                \
  }

MINILSTM_GRU_ENTRY_POINTS(float, f32)
MINILSTM_GRU_ENTRY_POINTS(double, f64)
