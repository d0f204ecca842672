// Fused pointwise LSTM kernels for minilstm's CuPy kernel set (kernels/gpu.py).
//
// The maths is the one in kernels/reference.py (see there); these kernels are
// its two loop bodies with every gate computed in one pass. The GEMMs (input
// projection, recurrent product, weight gradients) stay in cuBLAS, called
// from gpu.py.
//
// Layout: every pointer is one time step's contiguous slice, row-major;
// (B, 4H) rows hold the gate blocks i, f, c (called g here), o, each H wide,
// as in the Keras weight layout. One thread handles one (b, j) entry of the
// (B, H) state and the four gate entries that belong to it, so a warp reads
// 32 consecutive floats of each gate block (coalesced).
//
// Launch: 1-D, gridDim.x * blockDim.x >= B * H. Indices are int: gpu.py
// refuses B * 4H >= 2^31.
//
// Loaded once by gpu.py with cupy.RawModule (NVRTC, --std=c++14); entry
// points are extern "C": lstm_{forward,backward}_step_{f32,f64}.

// Activation codes; keep in sync with _ACTIVATION_CODES in kernels/gpu.py.
enum Activation {
  TANH = 0,
  SIGMOID = 1,
  HARD_SIGMOID = 2,  // Keras 3: clip(x / 6 + 1/2, 0, 1)
  RELU = 3,
  LINEAR = 4,
};

__device__ __forceinline__ float exp_(const float x) { return expf(x); }
__device__ __forceinline__ double exp_(const double x) { return exp(x); }
__device__ __forceinline__ float tanh_(const float x) { return tanhf(x); }
__device__ __forceinline__ double tanh_(const double x) { return tanh(x); }

// y = activation(x), as in minilstm/activations.py.
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
      return y < T(0) ? T(0) : (y > T(1) ? T(1) : y);
    }
    case RELU:
      return x > T(0) ? x : T(0);
    default:  // LINEAR
      return x;
  }
}

// dy/dx written in terms of the output y (haste's output-form derivatives).
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
    default:  // LINEAR
      return T(1);
  }
}

// Where the thread for entry (b, j) of the (B, H) arrays finds its four gates
// in the (B, 4H) arrays: row b, then the i, f, g, o blocks of H entries each.
struct GateOffsets {
  int i, f, g, o;
};

__device__ __forceinline__ GateOffsets gate_offsets(const int index, const int H) {
  const int b = index / H;
  const int j = index - b * H;
  const int row = b * 4 * H;
  return {row + 0 * H + j, row + 1 * H + j, row + 2 * H + j, row + 3 * H + j};
}

// One forward step: the body of reference.lstm_forward's loop after the
// recurrent matmul.
template <typename T>
__device__ __forceinline__ void forward_step(
    const int B,                     // batch size
    const int H,                     // units
    const T* __restrict__ zx,        // (B, 4H) input projection x_t @ kernel + bias at step t
    const T* __restrict__ zh,        // (B, 4H) recurrent product h_prev @ recurrent_kernel
    const T* __restrict__ c_prev,    // (B, H) cell state after step t-1 (c0 at the first step)
    T* __restrict__ gates,           // (B, 4H) out: activated gates i, f, g, o at step t
    T* __restrict__ c,               // (B, H) out: cell state after step t
    T* __restrict__ h,               // (B, H) out: hidden state after step t
    const int activation,            // Activation code of g and of the cell output
    const int recurrent_activation)  // Activation code of i, f, o
{
  const int index = blockIdx.x * blockDim.x + threadIdx.x;  // b * H + j
  if (index >= B * H) return;
  const GateOffsets at = gate_offsets(index, H);

  // z = zx[:, t] + h_prev @ recurrent_kernel, split into i, f, g, o
  const T i = activate(zx[at.i] + zh[at.i], recurrent_activation);
  const T f = activate(zx[at.f] + zh[at.f], recurrent_activation);
  const T g = activate(zx[at.g] + zh[at.g], activation);
  const T o = activate(zx[at.o] + zh[at.o], recurrent_activation);

  const T c_t = f * c_prev[index] + i * g;     // c = f * c_prev + i * g
  const T h_t = o * activate(c_t, activation);  // h = o * act(c)

  gates[at.i] = i;
  gates[at.f] = f;
  gates[at.g] = g;
  gates[at.o] = o;
  c[index] = c_t;
  h[index] = h_t;
}

// One backward step: the body of reference.lstm_backward's loop before the
// dz @ recurrent_kernel.T matmul. dc is read as dc_next and overwritten with
// dc_prev; each thread touches only its own entry, so in place is safe.
template <typename T>
__device__ __forceinline__ void backward_step(
    const int B,                     // batch size
    const int H,                     // units
    const T* __restrict__ dhs_t,     // (B, H) dL/dh_t from the output at step t (zeros if none)
    const T* __restrict__ dh_next,   // (B, H) dL/dh_t arriving from step t+1 (dh_last at the end)
    T* dc,                           // (B, H) in: dc_next from step t+1; out: dc_prev
    const T* __restrict__ c,         // (B, H) cell state after step t
    const T* __restrict__ c_prev,    // (B, H) cell state after step t-1 (c0 at the first step)
    const T* __restrict__ gates,     // (B, 4H) activated gates i, f, g, o at step t (from forward)
    T* __restrict__ dz,              // (B, 4H) out: dL/dz_t, gradient of the pre-activations
    const int activation,            // Activation code of g and of the cell output
    const int recurrent_activation)  // Activation code of i, f, o
{
  const int index = blockIdx.x * blockDim.x + threadIdx.x;  // b * H + j
  if (index >= B * H) return;
  const GateOffsets at = gate_offsets(index, H);

  const T i = gates[at.i];
  const T f = gates[at.f];
  const T g = gates[at.g];
  const T o = gates[at.o];

  // h_t feeds both the output at step t and the next step.
  const T dh = dhs_t[index] + dh_next[index];

  // h = o * act(c); act(c) is recomputed rather than cached
  const T act_c = activate(c[index], activation);
  const T d_o = dh * act_c;  // reference.py: do (a C++ keyword)
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

extern "C" __global__ void lstm_forward_step_f32(
    const int B, const int H, const float* __restrict__ zx, const float* __restrict__ zh,
    const float* __restrict__ c_prev, float* __restrict__ gates, float* __restrict__ c,
    float* __restrict__ h, const int activation, const int recurrent_activation) {
  forward_step<float>(B, H, zx, zh, c_prev, gates, c, h, activation, recurrent_activation);
}

extern "C" __global__ void lstm_forward_step_f64(
    const int B, const int H, const double* __restrict__ zx, const double* __restrict__ zh,
    const double* __restrict__ c_prev, double* __restrict__ gates, double* __restrict__ c,
    double* __restrict__ h, const int activation, const int recurrent_activation) {
  forward_step<double>(B, H, zx, zh, c_prev, gates, c, h, activation, recurrent_activation);
}

extern "C" __global__ void lstm_backward_step_f32(
    const int B, const int H, const float* __restrict__ dhs_t,
    const float* __restrict__ dh_next, float* dc, const float* __restrict__ c,
    const float* __restrict__ c_prev, const float* __restrict__ gates, float* __restrict__ dz,
    const int activation, const int recurrent_activation) {
  backward_step<float>(B, H, dhs_t, dh_next, dc, c, c_prev, gates, dz, activation,
                       recurrent_activation);
}

extern "C" __global__ void lstm_backward_step_f64(
    const int B, const int H, const double* __restrict__ dhs_t,
    const double* __restrict__ dh_next, double* dc, const double* __restrict__ c,
    const double* __restrict__ c_prev, const double* __restrict__ gates, double* __restrict__ dz,
    const int activation, const int recurrent_activation) {
  backward_step<double>(B, H, dhs_t, dh_next, dc, c, c_prev, gates, dz, activation,
                        recurrent_activation);
}
