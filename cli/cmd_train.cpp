// SPDX-License-Identifier: MIT
// bactor train: unsupervised training of the action network for one cost family.
#include <cmath>
#include <cstdlib>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "cli/command.hpp"
#include "cli/cost_options.hpp"
#include "cli/options.hpp"
#include "cli/out_dir.hpp"
#include <bactor/models/train.hpp>
#include "models/train_linear.hpp"

namespace {

std::vector<int> parse_hidden(const std::string& text) {
  std::vector<int> sizes;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    std::size_t used = 0;
    int v = 0;
    try {
      v = std::stoi(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != item.size() || item.empty() || v < 1 || v > 4096)
      throw bactor::cli::UsageError("--hidden: '" + text + "' is not a comma-separated list of layer sizes (1..4096)");
    sizes.push_back(v);
  }
  if (sizes.empty()) throw bactor::cli::UsageError("--hidden: at least one layer size");
  return sizes;
}

template <class Sizes> std::string join_sizes(const Sizes& sizes) {
  std::string text;
  for (int v : sizes) text += (text.empty() ? "" : ",") + std::to_string(v);
  return text;
}

int run(int argc, char** argv) {
  using namespace bactor;
  CLI::App app{"Train the amortized actor (action network) for a cost family or your own formula."};
  TrainSettings s;
  std::string out, hidden = "16,64,16,8", schedule = "cosine";
  cli::CostOptions co;
  std::string cost_name;
  app.add_option("--cost", cost_name, "cost family (see `bactor costs`), or give --formula");
  cli::add_formula_options(app, co);
  app.add_option("--out", out, "output .safetensors file")->required();
  app.add_option("--steps", s.steps, "optimisation steps (default 60000; 120000 for Linex under generalized or gaussian "
                 "motor noise and AbsoluteCostQuadraticEffort under gaussian perception, docs/training.md)")->check(CLI::Range(std::size_t(1), std::size_t(1) << 40));
  app.add_option("--batch", s.batch, "parameter sets per step (B)")->capture_default_str()->check(CLI::Range(1, 1 << 20));
  app.add_option("--mc", s.mc, "Monte Carlo draws per parameter set (K); where the trainer takes a product rule instead (docs/training.md), K sets the rule's posterior nodes: K/16 for a smooth cost, at least 4 (the split rule of a kinked cost under gaussian motor noise: unused)")->capture_default_str()->check(CLI::Range(1, 1 << 20));
  app.add_option("--lr", s.lr, "base learning rate (> 0)")
      ->capture_default_str()
      ->check(CLI::Validator(
          [](std::string& v) {
            char* end = nullptr;
            const double x = std::strtod(v.c_str(), &end);
            return (end != v.c_str() && *end == '\0' && x > 0 && std::isfinite(x))
                       ? std::string()
                       : "'" + v + "' is not a positive number";
          },
          "POSITIVE"));
  app.add_option("--optimizer", s.optimizer, "adam or rmsprop")->capture_default_str()->check(CLI::IsMember({"adam", "rmsprop"}));
  app.add_option("--schedule", schedule, "cosine, exponential or constant")
      ->capture_default_str()
      ->check(CLI::IsMember({"cosine", "exponential", "constant"}));
  app.add_option("--final-lr-fraction", s.final_lr_fraction, "final lr / base lr (cosine, exponential)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  auto* hidden_opt = app.add_option("--hidden", hidden, "hidden layer sizes, comma-separated (under --perception gaussian "
                                    "the default is 32,64,16,8)")->capture_default_str();
  app.add_option("--head", s.head,
                 "output head: auto (posterior for costs homogeneous in s and r, else mupost), softplus, "
                 "power, posterior or mupost")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "softplus", "power", "posterior", "mupost"}));
  std::string motor = "lognormal";
  cli::add_motor_option(app, motor,
                 "motor noise the actor plans with: lognormal, generalized (adds sigma_a) or gaussian (sigma_a "
                 "instead of sigma_r); with these two, head auto is mupost (for costs with a length scale kappa it sees sigma_a / kappa)");
  std::string perception = "lognormal";
  cli::add_perception_option(app, perception, "how the actor perceives the stimulus");
  app.add_option("--seed", s.seed, "random seed")->capture_default_str();
  app.add_option("--threads", s.threads, "OpenMP threads (0: default)")->capture_default_str()->check(CLI::Range(0, 1024));
  app.add_option("--eval-points", s.eval_points, "size of the fixed evaluation set")->capture_default_str()->check(CLI::Range(1, 10000000));
  if (!cli::parse(app, argc, argv)) return cli::exit_ok;
  cli::check_output_file(out, "--out");  // before training, not after it
  s.perception = cli::perception_option(perception);
  if (hidden_opt->count() == 0 && s.perception == PerceptionModel::gaussian)  // docs/training.md, "Gaussian perception"
    hidden = join_sizes(detail::linear_hidden);
  s.hidden = parse_hidden(hidden);
  s.schedule = LrSchedule::parse_kind(schedule);
  // Unknown names and bad formulas: a one-line error before any work.
  const CostInfo& cost = cli::resolve_cost(cost_name, co);
  s.cost = cost.name;
  s.motor = cli::motor_option(motor, s.perception);
  if (s.head == "auto") s.head = default_head_name(cost, s.motor);
  check_head(cost, parse_network_head(s.head), s.motor);
  if (s.steps == 0) s.steps = default_training_steps(cost, s.motor, s.perception);

  std::fprintf(stderr, "training %s (%s motor noise%s): %zu steps, batch %zu, mc %zu, hidden %s, %s head, %s lr %g (%s), seed %llu\n",
               s.cost.c_str(), motor.c_str(),
               s.perception == PerceptionModel::lognormal ? "" : (", " + perception + " perception").c_str(), s.steps, s.batch, s.mc, hidden.c_str(), s.head.c_str(), s.optimizer.c_str(), s.lr,
               schedule.c_str(), static_cast<unsigned long long>(s.seed));
  cli::install_stop_handlers();
  s.stop = &cli::stop_flag();
  const TrainResult r = train(s, [](const TrainProgress& p) {
    std::fprintf(stderr, "step %8zu/%zu  loss %.6g  eval_rmse %.5f  %.0f steps/s  %.1f s\n", p.step, p.steps, p.loss,
                 p.eval_rmse, p.steps_per_s, p.seconds);
  });
  r.network.save(out);
  if (r.complete) {
    std::fprintf(stderr, "wrote %s\n", out.c_str());
  } else {
    std::fprintf(stderr,
                 "interrupted: stopped after %zu of %zu steps; wrote the partial network to %s (its metadata "
                 "says 'interrupted'; bactor infer warns about it)\n",
                 r.steps, s.steps, out.c_str());
  }
  std::printf("eval_rmse=%.6g steps=%zu seconds=%.3f steps_per_s=%.1f%s\n", r.eval_rmse, r.steps, r.seconds,
              r.steps_per_s, r.complete ? "" : " interrupted=1");
  return r.complete ? cli::exit_ok : cli::exit_failure;
}

} // namespace

BACTOR_COMMAND("train", "train the action network (amortized actor) for a cost family", run);
