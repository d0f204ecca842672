// Activations and step helpers shared by lstm.cu, gru.cu and simple_rnn.cu.
//
// The Activation codes are kernels/activations.py's CODES, the one list of
// what a recurrent cell may use; tests/test_gpu.py parses this enum and checks
// that the two agree. kernels/gpu passes CODES[name] to every kernel.
//
// NVRTC gets this header pasted in place of the `#include "activations.cuh"`
// line (kernels/gpu/_launch.py assembles the source), so CuPy's compile cache,
// keyed by the source text, sees every edit here; nvcc finds it by the include.

#ifndef MINILSTM_ACTIVATIONS_CUH
#define MINILSTM_ACTIVATIONS_CUH

enum Activation {
  LINEAR = 0,
  SIGMOID = 1,
  TANH = 2,
  RELU = 3,
  HARD_SIGMOID = 4,  // Keras 3: clip(x / 6 + 1/2, 0, 1)
};

__device__ __forceinline__ float exp_(const float x) { return expf(x); }
__device__ __forceinline__ double exp_(const double x) { return exp(x); }
__device__ __forceinline__ float tanh_(const float x) { return tanhf(x); }
__device__ __forceinline__ double tanh_(const double x) { return tanh(x); }

// y = activation(x), as in kernels/activations.py; NaN stays NaN, as in NumPy.
template <typename T>
__device__ __forceinline__ T activate(const T x, const int code) {
  switch (code) {
    case TANH:
      return tanh_(x);
    case SIGMOID: {
      // 1 / (1 + exp(-x)) in the overflow-free form of activations.sigmoid.
      const T e = exp_(x >= T(0) ? -x : x);  // exp(-|x|)
      return x >= T(0) ? T(1) / (T(1) + e) : e / (T(1) + e);
    }
    case HARD_SIGMOID: {
      const T y = x / T(6) + T(0.5);
      return y < T(0) ? T(0) : (y > T(1) ? T(1) : y);  // NaN falls through: np.clip
    }
    case RELU:
      return x < T(0) ? T(0) : x;  // np.maximum(x, 0) keeps NaN; `x > 0 ? x : 0` would not
    case LINEAR:
    default:
      return x;
  }
}

// dy/dx written in terms of the output y (haste's output-form derivatives),
// entry for entry activations.py's `grad` (a NaN y gives 0 where NumPy's
// comparisons do: relu, hard_sigmoid).
template <typename T>
__device__ __forceinline__ T d_activate(const T y, const int code) {
  switch (code) {
    case TANH:
      return T(1) - y * y;
    case SIGMOID:
      return y * (T(1) - y);
    case HARD_SIGMOID:
      return (y > T(0) && y < T(1)) ? T(1) / T(6) : T(0);
    case RELU:
      return y > T(0) ? T(1) : T(0);
    case LINEAR:
    default:
      return T(1);
  }
}

// ---------------------------------------------------------------------------
// What every cell's step kernels share. One thread owns entry index = b * H + j
// of the (B, H) state; BH = B * H. Recurrent dropout masks are (M, B, H): M = 1
// (one mask for every gate block, all ones without dropout) or one per block.
// ---------------------------------------------------------------------------

// h_dropped[k] = h * m_k: the operand of the next step's recurrent GEMM(s),
// reference _sequence.masked_matmul's `a * m_k` done while h is in a register.
template <typename T>
__device__ __forceinline__ void store_dropped(const int index, const int BH, const T h,
                                              const T* __restrict__ rmask, const int M,
                                              T* __restrict__ h_dropped) {
  for (int k = 0; k < M; ++k) h_dropped[k * BH + index] = h * rmask[k * BH + index];
}

// dL/dh_t: from the output at step t, plus what step t+1 sent back through
// its recurrent GEMMs (Σ_k (dz_k @ U_kᵀ) * m_k, _sequence.masked_matmul_grad_operand),
// plus what it sent around them (the carry of a masked step, the z * h_prev of a GRU).
template <typename T>
__device__ __forceinline__ T incoming_dh(const int index, const int BH,
                                         const T* __restrict__ dhs_t,
                                         const T* __restrict__ dh_rec,
                                         const T* __restrict__ rmask, const int M,
                                         const T* dh_skip) {
  T through_gemm = T(0);
  for (int k = 0; k < M; ++k) through_gemm += dh_rec[k * BH + index] * rmask[k * BH + index];
  return dhs_t[index] + (through_gemm + dh_skip[index]);
}

#endif  // MINILSTM_ACTIVATIONS_CUH
