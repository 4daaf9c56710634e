// The premul RNN loop with the whole time loop in C++: one layer, one direction, forward and explicit backward.
//
// Forward: the input projection of every step in one addmm, into a gate buffer (T, B, G*H) that also receives
// the per-step h @ W_hh^T (in place, beta = 1). The recurrent matmul goes through MKL's packed GEMM where
// libtorch exports it (W_hh is packed once per call instead of once per step), else through at::addmm. The gate
// equations run fused in one pass over each step's (B, G*H) block, written so the compiler vectorises them.
// Backward: the same loop in reverse; the weight gradients and the input gradient are one matmul each after it.
// Families: 0 rnn_tanh, 1 rnn_relu, 2 lstm, 3 gru. Gate order is PyTorch's: lstm i, f, g, o; gru r, z, n.
// Per-operator headers instead of <ATen/ATen.h>: the build takes a fraction of the time.
#define TORCH_ASSERT_ONLY_METHOD_OPERATORS
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/addmm.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <ATen/ops/from_blob.h>
#include <ATen/ops/mm.h>
#include <ATen/ops/zeros_like.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <tuple>
#include <type_traits>
#include <vector>

namespace {

using at::Tensor;

enum Family : int64_t { RNN_TANH = 0, RNN_RELU = 1, LSTM = 2, GRU = 3 };

// MKL's CBLAS packed GEMM, as weak symbols: resolved from libtorch_cpu where torch links MKL, null otherwise.
extern "C" {
size_t cblas_sgemm_pack_get_size(int identifier, int m, int n, int k) __attribute__((weak));
void cblas_sgemm_pack(int layout, int identifier, int trans, int m, int n, int k, float alpha, const float* src,
                      int ld, float* dest) __attribute__((weak));
void cblas_sgemm_compute(int layout, int transa, int transb, int m, int n, int k, const float* a, int lda,
                         const float* b, int ldb, float beta, float* c, int ldc) __attribute__((weak));
}
constexpr int kRowMajor = 101, kNoTrans = 111, kTrans = 112, kPacked = 151, kBMatrix = 162;

bool packed_gemm_available() {
  return cblas_sgemm_pack_get_size != nullptr && cblas_sgemm_pack != nullptr && cblas_sgemm_compute != nullptr;
}

// C (rows x n, row-major, ldc) += A (rows x k, row-major) @ op(W), with op(W) (k x n) fixed for the whole loop.
class StepGemm {
 public:
  // weight: (n x k) when transpose (C += A @ W^T), (k x n) otherwise (C += A @ W).
  StepGemm(const Tensor& weight, bool transpose, int64_t rows) : rows_(rows), transpose_(transpose) {
    weight_ = weight.contiguous();
    n_ = transpose ? weight_.size(0) : weight_.size(1);
    k_ = transpose ? weight_.size(1) : weight_.size(0);
    if (weight_.scalar_type() == at::kFloat && packed_gemm_available() && rows > 0 && n_ > 0 && k_ > 0) {
      size_t bytes = cblas_sgemm_pack_get_size(kBMatrix, int(rows), int(n_), int(k_));
      packed_ = at::empty({int64_t(bytes / sizeof(float) + 16)}, weight_.options());
      int ld = int(weight_.size(1));
      cblas_sgemm_pack(kRowMajor, kBMatrix, transpose ? kTrans : kNoTrans, int(rows), int(n_), int(k_), 1.0f,
               weight_.data_ptr<float>(), ld, packed_.data_ptr<float>());
    } else {
      op_ = transpose ? weight_.t() : weight_;
    }
  }
  bool packed() const { return packed_.defined(); }
  // c (rows x n, leading dimension n) += a (rows x k, leading dimension k) @ op(W)
  template <typename T>
  void run(const T* a, T* c) const {
    if constexpr (std::is_same_v<T, float>) {
      if (packed_.defined()) {
        cblas_sgemm_compute(kRowMajor, kNoTrans, kPacked, int(rows_), int(n_), int(k_), a, int(k_),
                            packed_.data_ptr<float>(), 0, 1.0f, c, int(n_));
        return;
      }
    }
    auto options = weight_.options();
    Tensor out = at::from_blob(c, {rows_, n_}, options);
    out.addmm_(at::from_blob(const_cast<T*>(a), {rows_, k_}, options), op_);
  }

 private:
  int64_t rows_, n_ = 0, k_ = 0;
  bool transpose_;
  Tensor weight_, packed_, op_;
};

template <typename T>
inline T sigmoid(T x) {
  return T(1) / (T(1) + std::exp(-x));
}

// One step's gate equations over rows [begin, end) of the (B, G*H) block `g` (pre-activations in, activations out).
template <typename T>
void lstm_step(T* g, const T* c_prev, T* c, T* h, int64_t hidden, int64_t begin, int64_t end) {
  for (int64_t b = begin; b < end; ++b) {
    T* gi = g + b * 4 * hidden;
    T* gf = gi + hidden;
    T* gg = gf + hidden;
    T* go = gg + hidden;
    const T* cp = c_prev + b * hidden;
    T* cb = c + b * hidden;
    T* hb = h + b * hidden;
#pragma omp simd
    for (int64_t j = 0; j < hidden; ++j) {
      T i = sigmoid(gi[j]), f = sigmoid(gf[j]), gt = std::tanh(gg[j]), o = sigmoid(go[j]);
      T cn = f * cp[j] + i * gt;
      gi[j] = i;
      gf[j] = f;
      gg[j] = gt;
      go[j] = o;
      cb[j] = cn;
      hb[j] = o * std::tanh(cn);
    }
  }
}

template <typename T>
void rnn_step(bool relu, const T* pre, T* h, int64_t hidden, int64_t begin, int64_t end) {
  for (int64_t b = begin; b < end; ++b) {
    const T* p = pre + b * hidden;
    T* hb = h + b * hidden;
    if (relu) {
#pragma omp simd
      for (int64_t j = 0; j < hidden; ++j) hb[j] = p[j] > T(0) ? p[j] : T(0);
    } else {
#pragma omp simd
      for (int64_t j = 0; j < hidden; ++j) hb[j] = std::tanh(p[j]);
    }
  }
}

// gi: input side r, z, n (activations r, z, n out); gh: W_h h + b_h (its n part kept: backward needs it).
template <typename T>
void gru_step(T* gi, const T* gh, const T* h_prev, T* h, int64_t hidden, int64_t begin, int64_t end) {
  for (int64_t b = begin; b < end; ++b) {
    T* ir = gi + b * 3 * hidden;
    T* iz = ir + hidden;
    T* in = iz + hidden;
    const T* hr = gh + b * 3 * hidden;
    const T* hz = hr + hidden;
    const T* hn = hz + hidden;
    const T* hp = h_prev + b * hidden;
    T* hb = h + b * hidden;
#pragma omp simd
    for (int64_t j = 0; j < hidden; ++j) {
      T r = sigmoid(ir[j] + hr[j]), z = sigmoid(iz[j] + hz[j]);
      T n = std::tanh(in[j] + r * hn[j]);
      ir[j] = r;
      iz[j] = z;
      in[j] = n;
      hb[j] = (T(1) - z) * n + z * hp[j];
    }
  }
}

template <typename F>
void over_rows(int64_t batch, int64_t hidden, const F& fn) {
  at::parallel_for(0, batch, std::max<int64_t>(1, 32768 / std::max<int64_t>(hidden, 1)), fn);
}

inline int64_t step_index(int64_t s, int64_t seq_len, bool reverse) { return reverse ? seq_len - 1 - s : s; }

}  // namespace

// x: (T, B, I) time-major. Returns output (T, B, H), h_n, c_n, gates (T, B, G*H: activations), and for GRU
// the per-step W_h h + b_h (T, B, 3H) / for LSTM the cell states (T, B, H); an empty tensor otherwise.
std::vector<Tensor> layer_forward(int64_t family, const Tensor& x, const Tensor& h0, const Tensor& c0,
                                  const Tensor& w_ih, const Tensor& w_hh, const Tensor& b_ih, const Tensor& b_hh,
                                  bool reverse) {
  TORCH_CHECK(x.dim() == 3 && x.is_contiguous(), "x must be a contiguous (seq_len, batch, input) tensor");
  TORCH_CHECK(x.device().is_cpu(), "the C++ loop runs on CPU tensors");
  const int64_t seq_len = x.size(0), batch = x.size(1), hidden = h0.size(-1), gh = w_hh.size(0);
  const bool gru = family == GRU, lstm = family == LSTM;
  Tensor bias = gru ? b_ih : b_ih.add(b_hh);
  Tensor gates = at::addmm(bias, x.reshape({seq_len * batch, x.size(2)}), w_ih.t()).view({seq_len, batch, gh});
  Tensor output = at::empty({seq_len, batch, hidden}, x.options());
  Tensor extra = lstm ? at::empty({seq_len, batch, hidden}, x.options())
                      : gru ? b_hh.expand({seq_len, batch, gh}).contiguous() : Tensor();
  Tensor h = h0.contiguous(), c = c0.contiguous();
  if (seq_len == 0) return {output, h, c, gates, extra.defined() ? extra : at::empty({0}, x.options())};
  StepGemm recurrent(w_hh, /*transpose=*/true, batch);
  const int64_t block = batch * gh, hblock = batch * hidden;
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "layer_forward", [&] {
    scalar_t* g0 = gates.data_ptr<scalar_t>();
    scalar_t* out0 = output.data_ptr<scalar_t>();
    scalar_t* e0 = extra.defined() ? extra.data_ptr<scalar_t>() : nullptr;
    const scalar_t* h_prev = h.data_ptr<scalar_t>();
    const scalar_t* c_prev = c.data_ptr<scalar_t>();
    for (int64_t s = 0; s < seq_len; ++s) {
      const int64_t t = step_index(s, seq_len, reverse);
      scalar_t* gp = g0 + t * block;
      scalar_t* hp = out0 + t * hblock;
      if (gru) {
        scalar_t* hh = e0 + t * block;
        recurrent.run(h_prev, hh);
        over_rows(batch, hidden, [&](int64_t b0, int64_t b1) { gru_step(gp, hh, h_prev, hp, hidden, b0, b1); });
      } else {
        recurrent.run(h_prev, gp);
        if (lstm) {
          scalar_t* cn = e0 + t * hblock;
          over_rows(batch, hidden, [&](int64_t b0, int64_t b1) { lstm_step(gp, c_prev, cn, hp, hidden, b0, b1); });
          c_prev = cn;
        } else {
          over_rows(batch, hidden, [&](int64_t b0, int64_t b1) { rnn_step(family == RNN_RELU, gp, hp, hidden, b0, b1); });
        }
      }
      h_prev = hp;
    }
  });
  const int64_t last = step_index(seq_len - 1, seq_len, reverse);
  h = output[last];
  if (lstm) c = extra[last];
  return {output, h.clone(), lstm ? c.clone() : c, gates, extra.defined() ? extra : at::empty({0}, x.options())};
}

namespace {

// Gradients of one LSTM step: dh (total grad of h_t) in, dc carried in place, pre-activation grads out.
template <typename T>
void lstm_step_back(const T* g, const T* c, const T* c_prev, const T* dh, T* dc, T* dg, int64_t hidden,
                    int64_t begin, int64_t end) {
  for (int64_t b = begin; b < end; ++b) {
    const T* gi = g + b * 4 * hidden;
    const T *gf = gi + hidden, *gg = gf + hidden, *go = gg + hidden;
    T* di = dg + b * 4 * hidden;
    T *df = di + hidden, *dgg = df + hidden, *dout = dgg + hidden;
    const T *cb = c + b * hidden, *cp = c_prev + b * hidden, *dhb = dh + b * hidden;
    T* dcb = dc + b * hidden;
#pragma omp simd
    for (int64_t j = 0; j < hidden; ++j) {
      T i = gi[j], f = gf[j], gt = gg[j], o = go[j];
      T tc = std::tanh(cb[j]);
      T dcc = dcb[j] + dhb[j] * o * (T(1) - tc * tc);
      dout[j] = dhb[j] * tc * o * (T(1) - o);
      di[j] = dcc * gt * i * (T(1) - i);
      df[j] = dcc * cp[j] * f * (T(1) - f);
      dgg[j] = dcc * i * (T(1) - gt * gt);
      dcb[j] = dcc * f;
    }
  }
}

template <typename T>
void rnn_step_back(bool relu, const T* h, const T* dh, T* dpre, int64_t hidden, int64_t begin, int64_t end) {
  for (int64_t k = begin * hidden; k < end * hidden; ++k) {
    dpre[k] = relu ? (h[k] > T(0) ? dh[k] : T(0)) : dh[k] * (T(1) - h[k] * h[k]);
  }
}

// GRU step: gi-side grads (r, z, n pre-activations), gh-side grads (r, z, and n times r), and dh * z for h_prev.
template <typename T>
void gru_step_back(const T* g, const T* gh, const T* h_prev, const T* dh, T* dgi, T* dgh, T* dh_prev,
                   int64_t hidden, int64_t begin, int64_t end) {
  for (int64_t b = begin; b < end; ++b) {
    const int64_t o3 = b * 3 * hidden, o1 = b * hidden;
    const T *r = g + o3, *z = r + hidden, *n = z + hidden, *hn = gh + o3 + 2 * hidden;
    T *dir = dgi + o3, *diz = dir + hidden, *din = diz + hidden;
    T *dhr = dgh + o3, *dhz = dhr + hidden, *dhn = dhz + hidden;
#pragma omp simd
    for (int64_t j = 0; j < hidden; ++j) {
      T d = dh[o1 + j];
      T dpn = d * (T(1) - z[j]) * (T(1) - n[j] * n[j]);
      T dpz = d * (h_prev[o1 + j] - n[j]) * z[j] * (T(1) - z[j]);
      T dpr = dpn * hn[j] * r[j] * (T(1) - r[j]);
      dir[j] = dpr;
      diz[j] = dpz;
      din[j] = dpn;
      dhr[j] = dpr;
      dhz[j] = dpz;
      dhn[j] = dpn * r[j];
      dh_prev[o1 + j] += d * z[j];
    }
  }
}

}  // namespace

// Returns dx (T, B, I), dh0, dc0, dw_ih, dw_hh, db_ih, db_hh. Inputs are layer_forward's and its results.
std::vector<Tensor> layer_backward(int64_t family, const Tensor& x, const Tensor& h0, const Tensor& c0,
                                   const Tensor& w_ih, const Tensor& w_hh, const Tensor& output, const Tensor& gates,
                                   const Tensor& extra, const Tensor& grad_output, const Tensor& grad_h_n,
                                   const Tensor& grad_c_n, bool reverse) {
  const int64_t seq_len = x.size(0), batch = x.size(1), hidden = h0.size(-1), gh = w_hh.size(0);
  const bool gru = family == GRU, lstm = family == LSTM;
  Tensor dgi = at::empty_like(gates);
  Tensor dgh = gru ? at::empty_like(gates) : dgi;
  Tensor go = grad_output.contiguous();
  Tensor dh = grad_h_n.add(go[step_index(seq_len - 1, seq_len, reverse)]).contiguous();
  Tensor dc = lstm ? grad_c_n.clone().contiguous() : Tensor();
  Tensor h0c = h0.contiguous(), c0c = c0.contiguous();
  StepGemm recurrent(w_hh, /*transpose=*/false, batch);
  Tensor dh_next = at::empty_like(dh);
  const int64_t block = batch * gh, hblock = batch * hidden;
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "layer_backward", [&] {
    const scalar_t* g0 = gates.data_ptr<scalar_t>();
    const scalar_t* out0 = output.data_ptr<scalar_t>();
    const scalar_t* e0 = extra.numel() ? extra.data_ptr<scalar_t>() : nullptr;
    const scalar_t* go0 = go.data_ptr<scalar_t>();
    scalar_t* dgi0 = dgi.data_ptr<scalar_t>();
    scalar_t* dgh0 = dgh.data_ptr<scalar_t>();
    scalar_t* dhp = dh.data_ptr<scalar_t>();
    scalar_t* dnp = dh_next.data_ptr<scalar_t>();
    scalar_t* dcp = lstm ? dc.data_ptr<scalar_t>() : nullptr;
    for (int64_t s = seq_len - 1; s >= 0; --s) {
      const int64_t t = step_index(s, seq_len, reverse);
      const int64_t t_prev = s > 0 ? step_index(s - 1, seq_len, reverse) : -1;
      const scalar_t* h_prev = t_prev >= 0 ? out0 + t_prev * hblock : h0c.data_ptr<scalar_t>();
      if (t_prev >= 0) {
        std::copy(go0 + t_prev * hblock, go0 + (t_prev + 1) * hblock, dnp);
      } else {
        std::fill(dnp, dnp + hblock, scalar_t(0));
      }
      const scalar_t* gp = g0 + t * block;
      scalar_t* dgi_t = dgi0 + t * block;
      scalar_t* dgh_t = dgh0 + t * block;
      if (lstm) {
        const scalar_t* cp = t_prev >= 0 ? e0 + t_prev * hblock : c0c.data_ptr<scalar_t>();
        const scalar_t* ct = e0 + t * hblock;
        over_rows(batch, hidden, [&](int64_t b0, int64_t b1) { lstm_step_back(gp, ct, cp, dhp, dcp, dgi_t, hidden, b0, b1); });
      } else if (gru) {
        const scalar_t* hh = e0 + t * block;
        over_rows(batch, hidden, [&](int64_t b0, int64_t b1) { gru_step_back(gp, hh, h_prev, dhp, dgi_t, dgh_t, dnp, hidden, b0, b1); });
      } else {
        const scalar_t* ht = out0 + t * hblock;
        over_rows(batch, hidden, [&](int64_t b0, int64_t b1) { rnn_step_back(family == RNN_RELU, ht, dhp, dgi_t, hidden, b0, b1); });
      }
      recurrent.run(dgh_t, dnp);
      std::swap(dhp, dnp);
    }
    if (dhp != dh.data_ptr<scalar_t>()) std::swap(dh, dh_next);
  });
  // h_{t-1} for every t, in time order: h0 then the outputs, shifted by one in the direction of processing
  Tensor h_prevs = seq_len == 0 ? output
                   : reverse ? at::cat({output.narrow(0, 1, seq_len - 1), h0c.unsqueeze(0)})
                             : at::cat({h0c.unsqueeze(0), output.narrow(0, 0, seq_len - 1)});
  const int64_t rows = seq_len * batch;
  Tensor dgi2 = dgi.view({rows, gh}), dgh2 = dgh.view({rows, gh});
  Tensor dx = at::mm(dgi2, w_ih).view({seq_len, batch, x.size(2)});
  Tensor x2 = x.reshape({rows, x.size(2)}), h2 = h_prevs.reshape({rows, hidden});
  Tensor dw_ih, dw_hh;
  if (gru) {
    dw_ih = at::mm(dgi2.t(), x2);
    dw_hh = at::mm(dgh2.t(), h2);
  } else {  // one gate gradient for both weights: one larger matmul against [x, h_prev]
    Tensor dw = at::mm(dgi2.t(), at::cat({x2, h2}, 1));
    dw_ih = dw.narrow(1, 0, x.size(2));
    dw_hh = dw.narrow(1, x.size(2), hidden);
  }
  Tensor db_ih = dgi2.sum(0);
  Tensor db_hh = gru ? dgh2.sum(0) : db_ih.clone();
  return {dx, dh, lstm ? dc : at::zeros_like(c0), dw_ih, dw_hh, db_ih, db_hh};
}

TORCH_LIBRARY(rnnbench_cpp, m) {
  m.def("packed_gemm() -> bool", [] { return packed_gemm_available(); });
  m.def("layer_forward(int family, Tensor x, Tensor h0, Tensor c0, Tensor w_ih, Tensor w_hh, Tensor b_ih, "
        "Tensor b_hh, bool reverse) -> Tensor[]");
  m.def("layer_backward(int family, Tensor x, Tensor h0, Tensor c0, Tensor w_ih, Tensor w_hh, Tensor output, "
        "Tensor gates, Tensor extra, Tensor grad_output, Tensor grad_h_n, Tensor grad_c_n, bool reverse) -> Tensor[]");
}

TORCH_LIBRARY_IMPL(rnnbench_cpp, CPU, m) {
  m.impl("layer_forward", &layer_forward);
  m.impl("layer_backward", &layer_backward);
}
