// SPDX-License-Identifier: MIT
// train(): the training loop around Trainer, with progress reports and a stop flag.
#include <chrono>
#include <cmath>
#include <string>

#include <bactor/models/train.hpp>

namespace bactor {

TrainResult train(const TrainSettings& settings, const std::function<void(const TrainProgress&)>& progress) {
  using clock = std::chrono::steady_clock;
  Trainer tr(settings);
  const std::size_t steps = tr.settings().steps;  // settings.steps, or the default it resolves to
  const auto t0 = clock::now();
  auto last = t0;
  std::size_t last_step = 0;
  double loss_acc = 0.0, first_loss = NAN, last_loss = NAN;
  std::size_t loss_n = 0;
  std::size_t done = 0;
  for (std::size_t i = 0; i < steps; ++i) {
    if (settings.stop && settings.stop->load(std::memory_order_relaxed)) break;
    const double l = tr.step();
    done = i + 1;
    if (i == 0) first_loss = l;
    loss_acc += l;
    ++loss_n;
    const auto now = clock::now();
    const double since = std::chrono::duration<double>(now - last).count();
    if (progress && (since >= settings.progress_seconds || i + 1 == steps)) {
      TrainProgress p;
      p.step = i + 1;
      p.steps = steps;
      p.loss = loss_acc / double(loss_n);
      p.eval_rmse = tr.eval_rmse();
      p.seconds = std::chrono::duration<double>(now - t0).count();
      p.steps_per_s = double(i + 1 - last_step) / since;
      progress(p);
      last = clock::now();
      last_step = i + 1;
      last_loss = p.loss;
      loss_acc = 0.0;
      loss_n = 0;
    }
  }
  TrainResult r;
  r.seconds = std::chrono::duration<double>(clock::now() - t0).count();
  r.eval_rmse = tr.eval_rmse();
  r.steps = done;
  r.complete = done == steps;
  r.steps_per_s = double(done) / r.seconds;
  r.first_loss = first_loss;
  r.last_loss = loss_n ? loss_acc / double(loss_n) : last_loss;
  r.network = tr.network();
  if (!r.complete)
    r.network.metadata()["interrupted"] =
        "stopped after " + std::to_string(done) + " of " + std::to_string(steps) + " steps";
  return r;
}

} // namespace bactor
