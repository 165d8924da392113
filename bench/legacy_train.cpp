// SPDX-License-Identifier: MIT
// TEMPORARY (bench only): the trainer as it was on main before issue 14 part 5 (hand-made
// lock-free scheduler over std::threads), kept to time it beside the new trainer in one run.
#include "bench/legacy_train.hpp"
#include <bactor/engine/errors.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <stdexcept>
#include <thread>

#include <xsimd/xsimd.hpp>
#if defined(_OPENMP)
#include <omp.h>
#endif

#include <bactor/engine/rng.hpp>
#include "bench/legacy_mlp_batch.hpp"

namespace bactor::legacy {
using namespace bactor;

using legacy_detail::cbatch;
using legacy_detail::chunk;
using legacy_detail::cvec;
using fvec = std::vector<float, xsimd::aligned_allocator<float, 64>>;

namespace {

/// Buffers of one chunk of C samples (feature-major).
struct ChunkWork {
  std::vector<fvec> pre, sig, act, grad;
  fvec logm, mu, sp, sr, cp, a, loss, dloss_da;
  fvec hk, hmw, hsig_t, hsig_x0, hw;  // head intermediates
  fvec dparams;                        // this chunk's gradient contribution
  double loss_sum = 0.0;               // this chunk's summed loss
  std::vector<double> theta;
  std::vector<double> features;  // head_features of one theta row (scratch)
  std::size_t n_valid = 0;
};

inline cbatch softplus_v(const cbatch& x) {
  return xsimd::max(x, cbatch(0.0f)) + xsimd::log1p(xsimd::exp(-xsimd::abs(x)));
}
inline cbatch sigmoid_v(const cbatch& x) { return cbatch(1.0f) / (cbatch(1.0f) + xsimd::exp(-x)); }

} // namespace

struct Trainer::Impl {
  TrainSettings set;
  const CostInfo* cost = nullptr;
  NetworkHead head = NetworkHead::softplus;
  MlpLayout layout;
  std::vector<InputScaling> scaling;
  std::size_t n_in = 0, n_feat = 0, n_cp = 0, n_chunks = 0;  // theta size, MLP inputs, cost params
  fvec params, grad;
  std::vector<ChunkWork> work;
  // The optimiser (engine/optim.hpp), gradients clamped to ±1e15 to keep g² finite in float
  // for the second moment with heavy-tailed costs.
  std::unique_ptr<Adam<float>> adam;
  std::unique_ptr<RmsProp<float>> rms;
  LrSchedule schedule;
  std::size_t step = 0;
  EvalSet eval;
  double last_rmse = NAN;

  void init_chunk(ChunkWork& w) const {
    const auto& sz = layout.sizes;
    w.pre.resize(sz.size());
    w.sig.resize(sz.size());
    w.act.resize(sz.size());
    w.grad.resize(sz.size());
    for (std::size_t l = 0; l < sz.size(); ++l) {
      w.pre[l].assign(std::size_t(sz[l]) * chunk, 0.0f);
      w.sig[l].assign(std::size_t(sz[l]) * chunk, 0.0f);
      w.act[l].assign(std::size_t(sz[l]) * chunk, 0.0f);
      w.grad[l].assign(std::size_t(sz[l]) * chunk, 0.0f);
    }
    for (fvec* v : {&w.logm, &w.mu, &w.sp, &w.sr, &w.a, &w.loss, &w.dloss_da, &w.hk, &w.hmw, &w.hsig_t, &w.hsig_x0, &w.hw})
      v->assign(chunk, 0.0f);
    w.cp.assign(std::max<std::size_t>(n_cp, 1) * chunk, 0.0f);
    w.dparams.assign(layout.n_params(), 0.0f);
    w.theta.assign(chunk * n_in, 0.0);
    w.features.assign(n_in, 0.0);
  }

  /// Fills the chunk's inputs from theta rows (w.theta) and measurements.
  void set_inputs(ChunkWork& w, const double* m) const {
    for (std::size_t c = 0; c < chunk; ++c) {
      const double* th = w.theta.data() + c * n_in;
      head_features(head, {th, n_in}, w.features);
      for (std::size_t i = 0; i < n_feat; ++i) {
        const auto& sc = scaling[i];
        const double t = sc.log ? std::log(w.features[i]) : w.features[i];
        w.act[0][i * chunk + c] = float((t - sc.shift) / sc.scale);
      }
      w.logm[c] = float(std::log(m[c]));
      const auto post = actor_posterior(m[c], th[0], th[1], th[2]);
      w.mu[c] = float(post.mu_post);
      w.sp[c] = float(post.sigma_post);
      w.sr[c] = float(th[3]);
      for (std::size_t j = 0; j < n_cp; ++j) w.cp[j * chunk + c] = float(th[4 + j]);
    }
  }

  /// Draws the chunk of batch `step`, chunk index `ci` (stream per (seed, step, chunk)).
  void sample_chunk(ChunkWork& w, std::uint64_t step_id, std::size_t ci) const {
    Rng rng(set.seed, step_id * n_chunks + ci);
    const std::size_t first = ci * chunk;
    w.n_valid = std::min(chunk, set.batch - first);
    double m[chunk];
    for (std::size_t c = 0; c < w.n_valid; ++c)
      sample_training_point(*cost, set.prior, rng, {w.theta.data() + c * n_in, n_in}, m[c]);
    for (std::size_t c = w.n_valid; c < chunk; ++c) {  // padding: copies of the first sample
      std::copy_n(w.theta.data(), n_in, w.theta.data() + c * n_in);
      m[c] = m[0];
    }
    set_inputs(w, m);
  }

  /// MLP forward and head: w.a (weights P).
  void forward(ChunkWork& w, const float* P) const {
    const std::size_t L = layout.n_layers();
    for (std::size_t l = 0; l < L; ++l)
      legacy_detail::dense_forward(std::size_t(layout.sizes[l]), std::size_t(layout.sizes[l + 1]),
                            P + layout.weight_offset(l), P + layout.bias_offset(l), w.act[l].data(), w.pre[l + 1].data(), w.sig[l + 1].data(), w.act[l + 1].data(), l + 1 < L);
    const float* x = w.act[L].data();
    if (head == NetworkHead::posterior) {
      // a = exp(x0 + mu_post); log a clamped to +-40 against float overflow.
      for (std::size_t v = 0; v < chunk; v += cbatch::size) {
        const cbatch la = cbatch::load_aligned(x + v) + cbatch::load_aligned(w.mu.data() + v);
        xsimd::exp(xsimd::clip(la, cbatch(-40.0f), cbatch(40.0f))).store_aligned(w.a.data() + v);
      }
      return;
    }
    if (head == NetworkHead::power) {
      // a = exp(x0 + w log m), w = sigmoid(x1); log a clamped to +-40 against float overflow.
      for (std::size_t v = 0; v < chunk; v += cbatch::size) {
        const cbatch x0 = cbatch::load_aligned(x + v), wexp = sigmoid_v(cbatch::load_aligned(x + chunk + v));
        const cbatch la = xsimd::fma(wexp, cbatch::load_aligned(w.logm.data() + v), x0);
        xsimd::exp(xsimd::clip(la, cbatch(-40.0f), cbatch(40.0f))).store_aligned(w.a.data() + v);
        wexp.store_aligned(w.hw.data() + v);
      }
      return;
    }
    for (std::size_t v = 0; v < chunk; v += cbatch::size) {
      const cbatch x0 = cbatch::load_aligned(x + v), x1 = cbatch::load_aligned(x + chunk + v),
                   x2 = cbatch::load_aligned(x + 2 * chunk + v);
      const cbatch k = softplus_v(x0), wexp = sigmoid_v(x1);
      const cbatch mw = xsimd::exp(wexp * cbatch::load_aligned(w.logm.data() + v));
      const cbatch t = xsimd::fma(k, mw, x2);
      softplus_v(t).store_aligned(w.a.data() + v);
      k.store_aligned(w.hk.data() + v);
      wexp.store_aligned(w.hw.data() + v);
      mw.store_aligned(w.hmw.data() + v);
      sigmoid_v(t).store_aligned(w.hsig_t.data() + v);
      sigmoid_v(x0).store_aligned(w.hsig_x0.data() + v);
    }
  }

  /// Head and MLP backward from w.dloss_da scaled by `scale` (pads get zero); accumulates into w.dparams.
  void backward(ChunkWork& w, const float* P, float scale) const {
    const std::size_t L = layout.n_layers();
    float* g = w.grad[L].data();
    if (power_law_head(head)) {
      const bool power = head == NetworkHead::power;
      for (std::size_t c = 0; c < chunk; ++c) {
        const float gla = c < w.n_valid ? w.dloss_da[c] * scale * w.a[c] : 0.0f;  // d/d log a
        g[c] = gla;
        g[chunk + c] = power ? gla * w.logm[c] * w.hw[c] * (1.0f - w.hw[c]) : 0.0f;
        g[2 * chunk + c] = 0.0f;
      }
    } else
    for (std::size_t c = 0; c < chunk; ++c) {
      const float ga = c < w.n_valid ? w.dloss_da[c] * scale : 0.0f;
      const float dt = ga * w.hsig_t[c];
      g[c] = dt * w.hmw[c] * w.hsig_x0[c];
      g[chunk + c] = dt * w.hk[c] * w.hmw[c] * w.logm[c] * w.hw[c] * (1.0f - w.hw[c]);
      g[2 * chunk + c] = dt;
    }
    std::fill(w.dparams.begin(), w.dparams.end(), 0.0f);
    for (std::size_t l = L; l-- > 0;) {
      float* dx = l > 0 ? w.grad[l].data() : nullptr;
      legacy_detail::dense_backward(std::size_t(layout.sizes[l]), std::size_t(layout.sizes[l + 1]),
                             P + layout.weight_offset(l), w.act[l].data(), w.grad[l + 1].data(),
                             w.dparams.data() + layout.weight_offset(l), w.dparams.data() + layout.bias_offset(l), dx);
      if (dx) legacy_detail::swish_backward(std::size_t(layout.sizes[l]), w.pre[l].data(), w.sig[l].data(), dx);
    }
  }

  void run_kernel(ChunkWork& w, std::uint64_t step_id, std::size_t ci, const float* e, const float* u) const {
    detail::FusedArgs args;
    args.n = chunk;
    args.K = set.mc;
    args.mu_post = w.mu.data();
    args.sigma_post = w.sp.data();
    args.a = w.a.data();
    args.sigma_r = w.sr.data();
    args.params = w.cp.data();
    // A different seed domain from the theta sampler, same (step, chunk) stream.
    args.seed = detail::mix64(set.seed ^ 0x6a09e667f3bcc909ULL);
    args.stream = step_id * n_chunks + ci;
    args.u_clamp = float(cost->motor_truncation);
    args.e_fixed = e;
    args.u_fixed = u;
    args.loss = w.loss.data();
    args.dloss_da = w.dloss_da.data();
    cost->fused(args);
  }

  /// Homogeneous costs of degree p: each sample's cost times exp(-p mu_post) (see CostInfo).
  void apply_scale_weights(ChunkWork& w) const {
    const int p = cost->homogeneity_degree;
    if (p == 0) return;
    for (std::size_t c = 0; c < w.n_valid; ++c) {
      const float wt = std::exp(-float(p) * w.mu[c]);
      w.loss[c] *= wt;
      w.dloss_da[c] *= wt;
    }
  }

  // ---- Parallel batch gradient ----------------------------------------------------------
  // The caller and n_threads - 1 workers (std::thread) share the chunks of a step. A step is
  // published as an even `epoch` (odd while the caller rewrites the job); chunk states hold
  // epoch * 4 + {0 free, 1 claimed, 2 being published, 3 done}, so a late worker cannot
  // claim or publish into a newer step. Workers read the weights from a snapshot buffer they
  // pin, and the caller only rewrites unpinned snapshots: n_threads buffers always leave one
  // free. When the caller has no chunk left to claim and a worker's chunk is late (a worker
  // descheduled on a busy machine), the caller computes that chunk itself; whichever copy
  // is published first is used. Every chunk's numbers depend only on (weights, seed, step,
  // chunk) and the sums over chunks run in chunk order, so results do not depend on the
  // thread count or on who computed what.
  struct Job {
    std::atomic<std::uint64_t> step_id{0};
    std::atomic<const float*> e{nullptr}, u{nullptr};
    std::atomic<std::size_t> snap{0};
  };
  int n_threads = 1;
  std::vector<ChunkWork> scratch;  // per thread slot (0: the caller)
  std::vector<fvec> chunk_grad;    // per chunk: published gradient contribution
  std::vector<double> chunk_loss;  // per chunk: published summed loss
  std::unique_ptr<std::atomic<std::uint64_t>[]> chunk_state;
  std::vector<fvec> snap;          // weight snapshots read by the workers
  std::unique_ptr<std::atomic<int>[]> pins;
  Job job;
  std::atomic<std::uint64_t> epoch{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> workers;
  double chunk_seconds = 30e-6;    // running mean of the caller's time per chunk

  static void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  }

  void compute_chunk(ChunkWork& w, const float* P, std::uint64_t step_id, std::size_t ci, const float* e,
                     const float* u) const {
    sample_chunk(w, step_id, ci);
    forward(w, P);
    const std::size_t off = ci * chunk * set.mc;
    run_kernel(w, step_id, ci, e ? e + off : nullptr, u ? u + off : nullptr);
    apply_scale_weights(w);
    backward(w, P, 1.0f / float(set.batch));
    double ls = 0.0;
    for (std::size_t c = 0; c < w.n_valid; ++c) ls += double(w.loss[c]);
    w.loss_sum = ls;
  }

  /// Publishes w's result as chunk ci of epoch ep unless another copy was published first.
  void publish(std::size_t ci, std::uint64_t ep, ChunkWork& w) {
    std::uint64_t cur = chunk_state[ci].load();
    while (cur == ep * 4 || cur == ep * 4 + 1)
      if (chunk_state[ci].compare_exchange_weak(cur, ep * 4 + 2)) {
        std::swap(w.dparams, chunk_grad[ci]);  // w.dparams is zeroed by the next backward()
        chunk_loss[ci] = w.loss_sum;
        chunk_state[ci].store(ep * 4 + 3, std::memory_order_release);
        return;
      }
  }

  /// Claims and computes free chunks of epoch ep until none is left.
  void run_chunks(int slot, std::uint64_t ep, const float* P, std::uint64_t step_id, const float* e, const float* u) {
    for (std::size_t ci = 0; ci < n_chunks; ++ci) {
      std::uint64_t free_state = ep * 4;
      if (!chunk_state[ci].compare_exchange_strong(free_state, ep * 4 + 1)) continue;
      compute_chunk(scratch[std::size_t(slot)], P, step_id, ci, e, u);
      publish(ci, ep, scratch[std::size_t(slot)]);
    }
  }

  void worker_loop(int slot) {
    using clock = std::chrono::steady_clock;
    std::uint64_t seen = 0;
    for (;;) {
      // Wait for a new step: spin for a while (steps follow each other closely), then sleep.
      std::uint64_t ep = epoch.load();
      const auto t0 = clock::now();
      for (int spins = 0; !stop.load(std::memory_order_relaxed) && (ep == seen || (ep & 1)); ep = epoch.load()) {
        if (++spins % 64 == 0 && clock::now() - t0 > std::chrono::microseconds(200)) epoch.wait(ep);
        else cpu_relax();
      }
      if (stop.load()) return;
      seen = ep;
      const std::uint64_t step_id = job.step_id.load();
      const float* e = job.e.load();
      const float* u = job.u.load();
      const std::size_t sn = job.snap.load();
      pins[sn].fetch_add(1);
      if (epoch.load() == ep) run_chunks(slot, ep, snap[sn].data(), step_id, e, u);  // else: stale, skip
      pins[sn].fetch_sub(1);
    }
  }

  void start_workers() {
    n_threads = set.threads > 0 ? set.threads : int(std::max(1u, std::thread::hardware_concurrency()));
#if defined(_OPENMP)
    if (set.threads <= 0) n_threads = omp_get_max_threads();
#endif
    n_threads = int(std::min<std::size_t>(std::size_t(n_threads), n_chunks));
    scratch.resize(std::size_t(n_threads));
    for (auto& w : scratch) init_chunk(w);
    chunk_grad.assign(n_chunks, fvec(layout.n_params(), 0.0f));
    chunk_loss.assign(n_chunks, 0.0);
    chunk_state = std::make_unique<std::atomic<std::uint64_t>[]>(n_chunks);
    for (std::size_t ci = 0; ci < n_chunks; ++ci) chunk_state[ci].store(0);
    if (n_threads > 1) {
      snap.assign(std::size_t(n_threads), fvec(layout.n_params(), 0.0f));
      pins = std::make_unique<std::atomic<int>[]>(std::size_t(n_threads));
      for (int t = 0; t < n_threads; ++t) pins[std::size_t(t)].store(0);
    }
    for (int t = 1; t < n_threads; ++t) workers.emplace_back([this, t] { worker_loop(t); });
  }

  void stop_workers() {
    stop.store(true);
    epoch.fetch_add(2);
    epoch.notify_all();
    for (auto& t : workers) t.join();
    workers.clear();
  }

  /// Loss and gradient (into grad) of the batch of `step_id` at the current weights.
  double batch_gradient(std::uint64_t step_id, const float* e, const float* u) {
    using clock = std::chrono::steady_clock;
    const std::uint64_t ep = epoch.load() + 2;
    const float* P = params.data();
    if (n_threads > 1) {
      epoch.store(ep - 1);  // rewriting the job
      std::size_t sn = 0;
      while (pins[sn].load() != 0) ++sn;  // at most n_threads - 1 are pinned
      std::copy(params.begin(), params.end(), snap[sn].begin());
      P = snap[sn].data();
      job.step_id.store(step_id);
      job.e.store(e);
      job.u.store(u);
      job.snap.store(sn);
    }
    for (std::size_t ci = 0; ci < n_chunks; ++ci) chunk_state[ci].store(ep * 4);
    epoch.store(ep);
    if (n_threads > 1) epoch.notify_all();

    // The caller's share, timed to know how long a chunk takes.
    const auto t0 = clock::now();
    std::size_t mine = 0;
    for (std::size_t ci = 0; ci < n_chunks; ++ci) {
      std::uint64_t free_state = ep * 4;
      if (!chunk_state[ci].compare_exchange_strong(free_state, ep * 4 + 1)) continue;
      compute_chunk(scratch[0], P, step_id, ci, e, u);
      publish(ci, ep, scratch[0]);
      ++mine;
    }
    const auto t1 = clock::now();
    if (mine > 0) chunk_seconds = 0.9 * chunk_seconds + 0.1 * std::chrono::duration<double>(t1 - t0).count() / double(mine);
    // Chunks still with the workers: wait about one chunk's time, then compute them here.
    const auto patience = std::chrono::duration<double>(1.5 * chunk_seconds + 5e-6);
    for (std::size_t ci = 0; ci < n_chunks; ++ci) {
      for (int spins = 0; chunk_state[ci].load(std::memory_order_acquire) != ep * 4 + 3; ++spins) {
        if (spins % 64 == 63 && chunk_state[ci].load() == ep * 4 + 1 && clock::now() - t1 > patience) {
          compute_chunk(scratch[0], P, step_id, ci, e, u);
          publish(ci, ep, scratch[0]);
        } else {
          cpu_relax();
        }
      }
    }

    // Fixed-order sums over chunks: the result does not depend on who computed what.
    std::copy(chunk_grad[0].begin(), chunk_grad[0].end(), grad.begin());
    for (std::size_t ci = 1; ci < n_chunks; ++ci) {
      const float* d = chunk_grad[ci].data();
      for (std::size_t p = 0; p < grad.size(); ++p) grad[p] += d[p];
    }
    double loss_sum = 0.0;
    for (double l : chunk_loss) loss_sum += l;
    return loss_sum / double(set.batch);
  }

  ~Impl() { stop_workers(); }
};

Trainer::Trainer(const TrainSettings& s) : impl_(std::make_unique<Impl>()) {
  Impl& I = *impl_;
  I.set = s;
  I.cost = &find_cost(s.cost);
  I.head = parse_network_head(s.head == "auto" ? default_head_name(*I.cost) : s.head);
  if (s.batch < 1) throw ArgumentError("batch", "must be positive");
  if (s.mc < 1) throw ArgumentError("mc", "must be positive");
  if (s.hidden.empty()) throw ArgumentError("hidden", "at least one hidden layer");
  for (int h : s.hidden)
    if (h < 1 || h > 4096) throw ArgumentError("hidden", "layer size " + std::to_string(h) + " out of range 1..4096");
  if (!(s.lr > 0)) throw ArgumentError("lr", "must be positive");
  if (s.optimizer != "adam" && s.optimizer != "rmsprop")
    throw ArgumentError("optimizer", "'" + s.optimizer + "' (expected adam or rmsprop)");
  // (main's code called omp_set_num_threads(s.threads) here; left out: it changes nothing in
  // the step, which runs on std::threads, and would leak into the rest of the bench.)
  I.n_in = theta_size(*I.cost);
  I.n_cp = I.cost->params.size();
  I.n_feat = head_input_count(I.head, I.n_in);
  I.layout.sizes.push_back(int(I.n_feat));
  for (int h : s.hidden) I.layout.sizes.push_back(h);
  I.layout.sizes.push_back(3);
  I.scaling = training_input_scaling(*I.cost, s.prior, I.head);
  I.n_chunks = (s.batch + chunk - 1) / chunk;
  I.work.resize(I.n_chunks);
  for (auto& w : I.work) I.init_chunk(w);

  // Init: N(0, 1/fan_in) weights (swish keeps roughly unit scale), zero biases; the output
  // layer starts small with biases so that a ≈ m^0.88 (power head) or softplus(m^0.88) at the start.
  I.params.assign(I.layout.n_params(), 0.0f);
  I.grad.assign(I.layout.n_params(), 0.0f);
  Rng rng(s.seed, 0xfffffffffffffff0ULL);
  const std::size_t L = I.layout.n_layers();
  for (std::size_t l = 0; l < L; ++l) {
    const int in = I.layout.sizes[l], out = I.layout.sizes[l + 1];
    const double sd = (l + 1 < L ? 1.0 : 0.1) / std::sqrt(double(in));
    float* w = I.params.data() + I.layout.weight_offset(l);
    for (int k = 0; k < in * out; ++k) w[k] = float(sd * rng.normal());
  }
  float* bias_out = I.params.data() + I.layout.bias_offset(L - 1);
  bias_out[0] = power_law_head(I.head) ? 0.0f : float(std::log(std::expm1(1.0)));  // k = 1
  bias_out[1] = 2.0f;                               // m^sigmoid(2) = m^0.88
  bias_out[2] = 0.0f;

  if (s.optimizer == "adam")
    I.adam = std::make_unique<Adam<float>>(I.params.size(), 0.9, 0.999, 1e-8, 1e15f);
  else
    I.rms = std::make_unique<RmsProp<float>>(I.params.size(), 0.99, 1e-8, 1e15f);
  I.schedule.kind = s.schedule;
  I.schedule.base = s.lr;
  I.schedule.total = s.steps;
  I.schedule.final_fraction = s.final_lr_fraction;
  I.schedule.decay = s.final_lr_fraction;
  I.start_workers();
}

Trainer::~Trainer() = default;

double Trainer::step() {
  Impl& I = *impl_;
  const double loss = I.batch_gradient(I.step, nullptr, nullptr);
  const double lr = I.schedule.at(I.step);
  if (I.adam)
    I.adam->step(I.params, I.grad, lr);
  else
    I.rms->step(I.params, I.grad, lr);
  ++I.step;
  return loss;
}


std::span<float> Trainer::parameters() { return impl_->params; }

} // namespace bactor::legacy
