// SPDX-License-Identifier: MIT
#include "cli/cost_options.hpp"
#include "cli/predictive.hpp"
#include "cli/options.hpp"

#include <bactor/engine/rng.hpp>
#include <bactor/models/circular.hpp>
#include <bactor/models/costs.hpp>
#include <bactor/models/inference.hpp>
#include <bactor/models/network.hpp>
#include <bactor/samplers/diagnostics.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <numeric>
#include <sstream>
#include <stdexcept>
#include <tuple>

namespace bactor::cli {

namespace fs = std::filesystem;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

struct Moments {
  double mean = kNaN, sd = kNaN;
};

Moments moments(const std::vector<double>& y, const std::vector<std::size_t>& idx) {
  Moments m;
  if (idx.empty()) return m;
  double s = 0;
  for (auto i : idx) s += y[i];
  m.mean = s / double(idx.size());
  if (idx.size() < 2) return m;
  double v = 0;
  for (auto i : idx) v += (y[i] - m.mean) * (y[i] - m.mean);
  m.sd = std::sqrt(v / double(idx.size() - 1));
  return m;
}

/// Least-squares slope of y on x over idx (NaN when x does not vary).
double slope(const std::vector<double>& x, const std::vector<double>& y, const std::vector<std::size_t>& idx) {
  if (idx.size() < 2) return kNaN;
  double mx = 0, my = 0;
  for (auto i : idx) mx += x[i], my += y[i];
  mx /= double(idx.size());
  my /= double(idx.size());
  double sxy = 0, sxx = 0;
  for (auto i : idx) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
  }
  return sxx > 0 ? sxy / sxx : kNaN;
}

/// The circular mean and circular sd sqrt(-2 log R) of angles y over idx (R the mean resultant length).
Moments circular_moments(const std::vector<double>& y, const std::vector<std::size_t>& idx) {
  Moments m;
  if (idx.empty()) return m;
  double c = 0, s = 0;
  for (auto i : idx) c += std::cos(y[i]), s += std::sin(y[i]);
  const double rbar = std::hypot(c, s) / double(idx.size());
  m.mean = rbar > 0 ? std::atan2(s, c) : kNaN;
  if (idx.size() >= 2) m.sd = std::sqrt(-2 * std::log(std::min(rbar, 1.0)));
  return m;
}

/// The space the statistics are computed in: log s and log r (log-normal perception with a
/// positive motor model), s and r (gaussian perception or gaussian motor: values of any sign), or
/// the circle (von Mises: the wrapped error d = wrap(r - s)).
enum class Space { log, linear, circle };

/// A statistic on a group of trials, evaluated on the observed and on replicated responses (x, y
/// as `transform` makes them: log s and log r, s and r, or circularly s-centred and d).
struct Group {
  CheckRow row;                 // filled except the predictive part
  std::vector<std::size_t> idx; // trials
  int kind = 0;                 // 0 mean, 1 sd, 2 slope
  std::vector<double> rep;      // one value per replication
};

double eval(const Group& g, Space space, const std::vector<double>& x, const std::vector<double>& y) {
  if (g.kind == 2) return slope(x, y, g.idx);
  const Moments m = space == Space::circle ? circular_moments(y, g.idx) : moments(y, g.idx);
  return g.kind == 0 ? m.mean : m.sd;
}

/// The row names of a space's statistics (mean, sd per bin).
std::pair<const char*, const char*> stat_names(Space space) {
  switch (space) {
    case Space::linear: return {"mean_r", "sd_r"};
    case Space::circle: return {"cmean_d", "csd_d"};
    default: return {"mean_log_r", "sd_log_r"};
  }
}

bool file_exists(const std::string& p) { return !p.empty() && fs::is_regular_file(p); }

/// Binomial(n, p) quantile: the smallest x with P(X <= x) >= q.
std::size_t binom_quantile(std::size_t n, double p, double q) {
  double cdf = 0;
  for (std::size_t x = 0; x <= n; ++x) {
    cdf += std::exp(std::lgamma(double(n) + 1) - std::lgamma(double(x) + 1) - std::lgamma(double(n - x) + 1) +
                    double(x) * std::log(p) + double(n - x) * std::log1p(-p));
    if (cdf >= q) return x;
  }
  return n;
}

std::string fmt(double v, int prec = 3) {
  std::ostringstream os;
  os.precision(prec);
  os << v;
  return os.str();
}

} // namespace

std::vector<std::vector<std::size_t>> stimulus_bins(const Dataset& data, const std::vector<std::size_t>& trials, int bins) {
  std::vector<std::size_t> t = trials;
  std::stable_sort(t.begin(), t.end(), [&](std::size_t a, std::size_t b) { return data.s[a] < data.s[b]; });
  std::vector<std::vector<std::size_t>> out;
  if (t.empty()) return out;
  // Distinct stimulus values.
  std::vector<std::vector<std::size_t>> by_value;
  for (std::size_t j = 0; j < t.size(); ++j) {
    if (j == 0 || data.s[t[j]] != data.s[t[j - 1]]) by_value.emplace_back();
    by_value.back().push_back(t[j]);
  }
  const bool discrete = by_value.size() <= 12 &&
                        std::all_of(by_value.begin(), by_value.end(), [](const auto& v) { return v.size() >= 3; });
  if (discrete) return by_value;
  const std::size_t n = t.size();
  const std::size_t K = std::max<std::size_t>(1, std::min<std::size_t>(std::size_t(std::max(bins, 1)), n / 3));
  std::size_t start = 0;
  for (std::size_t b = 1; b <= K && start < n; ++b) {
    std::size_t end = b == K ? n : std::size_t(std::llround(double(b) * double(n) / double(K)));
    end = std::max(end, start + 1);
    while (end < n && data.s[t[end]] == data.s[t[end - 1]]) ++end;  // equal stimuli stay together
    out.emplace_back(t.begin() + std::ptrdiff_t(start), t.begin() + std::ptrdiff_t(end));
    start = end;
  }
  // A short last bin (ties pushed the others on) joins its neighbour.
  if (out.size() > 1 && out.back().size() < 3) {
    auto last = out.back();
    out.pop_back();
    out.back().insert(out.back().end(), last.begin(), last.end());
  }
  return out;
}

Dataset fit_data(const Fit& fit, const std::string& data_path, const std::string& columns) {
  const ColumnMap map = parse_column_map(columns.empty() ? setting(fit, "columns") : columns);
  // The values the fit accepted (its perception and motor models; older fits: log-normal).
  InferenceSpec recorded_models;
  if (const std::string p = setting(fit, "perception"); !p.empty()) recorded_models.perception = parse_perception_model(p);
  if (const std::string m = setting(fit, "motor"); !m.empty()) recorded_models.motor = motor_from_setting(m);
  const ValueDomain domain = value_domain(recorded_models);
  if (!data_path.empty()) return read_dataset(data_path, map, domain);
  const std::string recorded = setting(fit, "data_file");
  if (recorded.empty()) throw std::invalid_argument(fit.files.at(0) + ": no data_file recorded; give --data FILE");
  std::vector<std::string> tries = {recorded};
  // The fit folder's parent (or, for subject folders, the grandparent) is often where infer ran.
  fs::path base = fs::path(fit.dir).parent_path();
  if (!fit.subject.empty()) base = base.parent_path();
  if (fs::path(recorded).is_relative()) tries.push_back((base / recorded).string());
  for (const auto& p : tries)
    if (file_exists(p)) return read_dataset(p, map, domain);
  throw std::invalid_argument(fit.files.at(0) + ": the data file it records, '" + recorded +
                              "', is not found from here; give --data FILE");
}

std::map<std::string, SubjectTrials> subject_trials(const Dataset& data) {
  std::map<std::string, SubjectTrials> out;
  for (const auto& [id, d] : split_subjects(data)) out[id] = SubjectTrials{d.size(), d.cond_labels};
  return out;
}

namespace {

/// "a=x,b=y" from a map (its key order).
std::string join_strings(const std::map<std::string, std::string>& kv) {
  std::string out;
  for (const auto& [k, v] : kv) out += (out.empty() ? "" : ",") + k + "=" + v;
  return out;
}

std::vector<std::string> split_commas(const std::string& text) {
  std::vector<std::string> out;
  for (std::size_t start = 0; !text.empty();) {
    const auto comma = text.find(',', start);
    out.push_back(text.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

/// A blocked cohort's names for one subject: NAME.c (c the cohort's condition number, NAME of
/// per_condition) becomes the subject's own numbering, as a fit of the subject's data alone
/// numbers its conditions (split_subjects): NAME.k, k its position among the subject's
/// conditions; NAME when the subject has one condition; "" when it lacks condition c.
struct ConditionRenamer {
  std::set<std::string> per_condition;
  std::map<std::string, std::string> labels;  // cohort condition number -> label
  std::vector<std::string> mine;              // the subject's condition labels (empty: not known)
  std::string operator()(const std::string& name) const {
    const auto dot = name.rfind('.');
    if (mine.empty() || labels.size() < 2 || dot == std::string::npos || !per_condition.count(name.substr(0, dot))) return name;
    const auto label = labels.find(name.substr(dot + 1));
    if (label == labels.end()) return name;
    const auto at = std::find(mine.begin(), mine.end(), label->second);
    if (at == mine.end()) return "";
    return mine.size() == 1 ? name.substr(0, dot) : name.substr(0, dot) + "." + std::to_string(at - mine.begin() + 1);
  }
};

} // namespace

std::vector<Fit> hierarchical_subject_fits(const Fit& fit, const std::map<std::string, SubjectTrials>& subjects_data) {
  const std::string subjects = setting(fit, "subjects");
  if (subjects.empty()) throw std::invalid_argument(fit.files.at(0) + ": a hierarchical fit without its subjects recorded");
  const std::vector<std::string> pooled = split_commas(setting(fit, "pooled"));
  std::vector<std::string> shared;
  for (const auto& [k, v] : parse_string_assignments(setting(fit, "priors"), "priors")) shared.push_back(k);
  // Priors only have to give the recorded values support: a subject's mu_0 may lie outside the
  // single-subject default uniform(0.1, 5).
  std::map<std::string, std::string> priors = parse_string_assignments(setting(fit, "priors"), "priors");
  // (a lapse probability's on (0, 1); mu_0's and the offset's of either sign under gaussian
  // perception; mu_0 an angle under von Mises perception)
  const bool linear = setting(fit, "perception") == "gaussian", circular = setting(fit, "perception") == "vonmises";
  auto is = [](const std::string& name, const std::string& base) { return name == base || name.rfind(base + ".", 0) == 0; };
  for (const auto& name : pooled)
    priors[name] = is(name, "lapse")                                      ? "beta:1:1"
                   : linear && (is(name, "mu_0") || is(name, "offset")) ? "normal:0:1e6"
                   : circular && is(name, "mu_0")                       ? "vonmises:0:0"
                                                                           : "lognormal:0:10";
  // With lapses each subject's contaminant range, recorded by subject number.
  const std::map<std::string, std::string> lapse_ranges = parse_string_assignments(setting(fit, "lapse_ranges"), "lapse_ranges");
  ConditionRenamer rename;
  if (const std::string pc = setting(fit, "per_condition"); !pc.empty()) rename.per_condition = parse_per_condition(pc);
  rename.labels = parse_string_assignments(setting(fit, "conditions"), "conditions");
  std::vector<Fit> out;
  for (const auto& [index, id] : parse_string_assignments(subjects, "subjects")) {
    Fit f;
    f.dir = fit.dir;
    f.subject = id;
    f.files = fit.files;
    f.settings = fit.settings;
    f.settings.erase("hierarchical");
    const auto t = subjects_data.find(id);
    if (t == subjects_data.end()) throw std::invalid_argument(fit.files.at(0) + ": no trials of recorded subject '" + id + "' in the data");
    f.settings["trials"] = std::to_string(t->second.trials);
    if (const auto lr = lapse_ranges.find(index); lr != lapse_ranges.end()) f.settings["lapse_range"] = lr->second;
    rename.mine = t->second.conditions;
    // The settings an ActorModel of this subject's data takes: its own condition numbering.
    std::map<std::string, std::string> my_priors, my_fixed, my_conditions;
    for (const auto& [k, v] : priors)
      if (const std::string n = rename(k); !n.empty()) my_priors[n] = v;
    for (const auto& [k, v] : parse_string_assignments(setting(fit, "fixed"), "fixed"))
      if (const std::string n = rename(k); !n.empty()) my_fixed[n] = v;
    f.settings["priors"] = join_strings(my_priors);
    f.settings["fixed"] = join_strings(my_fixed);
    if (!rename.mine.empty()) {
      for (std::size_t c = 0; c < rename.mine.size(); ++c) my_conditions[std::to_string(c + 1)] = rename.mine[c];
      f.settings["conditions"] = join_strings(my_conditions);
    }
    std::vector<std::pair<std::string, std::string>> names{{"lp__", "lp__"}};  // (column in the fit, name in the subject's)
    for (const auto& n : pooled)
      if (const std::string m = rename(n); !m.empty()) names.emplace_back(n + ".s" + index, m);
    for (const auto& n : shared)
      if (const std::string m = rename(n); !m.empty()) names.emplace_back(n, m);
    for (const auto& ch : fit.chains) {
      ChainResult c;
      c.chain_id = ch.chain_id;
      c.warmup_draws_saved = ch.warmup_draws_saved;
      std::vector<std::size_t> at;
      for (const auto& [col, n] : names) {
        const auto it = std::find(ch.columns.begin(), ch.columns.end(), col);
        if (it == ch.columns.end()) throw std::invalid_argument(fit.files.at(0) + ": no column '" + col + "'");
        at.push_back(std::size_t(it - ch.columns.begin()));
        c.columns.push_back(n);
      }
      const std::size_t nc = ch.columns.size();
      for (std::size_t r = 0; r < ch.rows(); ++r)
        for (std::size_t a : at) c.draws.push_back(ch.draws[r * nc + a]);
      f.chains.push_back(std::move(c));
    }
    out.push_back(std::move(f));
  }
  // parse_string_assignments orders by key text; keep the subjects' recorded order (1, 2, ...).
  std::map<std::string, std::size_t> order;
  for (const auto& [index, id] : parse_string_assignments(subjects, "subjects")) order[id] = std::stoul(index);
  std::sort(out.begin(), out.end(), [&](const Fit& a, const Fit& b) { return order[a.subject] < order[b.subject]; });
  return out;
}

std::vector<CheckRow> predictive_check(const Fit& fit, const Dataset& data, const CheckOptions& options,
                                       std::size_t subject_index) {
  if (options.bins < 1) throw std::invalid_argument("--bins must be >= 1");
  if (options.draws < 10) throw std::invalid_argument("--draws must be >= 10");
  // The model as infer built it.
  InferenceSpec spec;
  const std::string cost = setting(fit, "cost");
  if (cost.empty()) throw std::invalid_argument(fit.files.at(0) + ": no cost recorded (not a bactor infer draws file?)");
  spec.cost = &recorded_cost(cost, [&](const std::string& k) { return setting(fit, k); });
  spec.latent = LatentMode::marginal;  // predictions do not depend on how the latent was handled
  spec.log_lik = false;
  spec.predict = true;
  spec.fixed = parse_assignments(setting(fit, "fixed"), "fixed");
  if (const std::string pc = setting(fit, "per_condition"); !pc.empty()) spec.per_condition = parse_per_condition(pc);
  for (const auto& [k, v] : parse_string_assignments(setting(fit, "priors"), "priors")) spec.priors[k] = parse_prior(v);
  // The unit S the fit worked in (draws files before it was recorded: the data's own units).
  const std::string scale = setting(fit, "scale");
  spec.scale = scale.empty() ? 1.0 : parse_number(scale, "scale");
  if (setting(fit, "lapse") == "true") {  // a lapse fit: predictions from the mixture, its recorded contaminant
    spec.lapse = true;
    const std::string range = setting(fit, "lapse_range");
    if (range.empty()) throw std::invalid_argument(fit.files.at(0) + ": lapse = true but no lapse_range recorded");
    // r (and so the range) of any sign under gaussian perception; on the circle the contaminant
    // is the whole circle.
    if (setting(fit, "perception") != "vonmises")
      std::tie(spec.lapse_lo, spec.lapse_hi) =
          parse_range(range, fit.files.at(0) + ": lapse_range", setting(fit, "perception") == "gaussian");
  }
  // The response model (draws files before it was recorded: log-normal).
  if (const std::string motor = setting(fit, "motor"); !motor.empty()) spec.motor = motor_from_setting(motor);
  if (const std::string p = setting(fit, "perception"); !p.empty()) spec.perception = parse_perception_model(p);
  if (setting(fit, "action") == "network") {
    const std::string net = setting(fit, "network");
    if (!file_exists(net))
      throw std::invalid_argument(fit.files.at(0) + ": the network it records, '" + net + "', is not found from here");
    spec.network = std::make_shared<const ActionNetwork>(ActionNetwork::load(net));
  } else if (setting(fit, "action") == "exact") {
    spec.exact_action = true;  // the ground-truth solver's action, as infer --exact-action used
  }
  const std::string trials = setting(fit, "trials");
  if (!trials.empty() && trials != std::to_string(data.size()))
    throw std::invalid_argument(fit.files.at(0) + ": fitted to " + trials + " trials, but the data " +
                                (fit.subject.empty() ? "" : "of subject " + fit.subject + " ") + "has " +
                                std::to_string(data.size()) + " (wrong --data?)");
  ActorModel model(data, spec);
  const auto names = model.free_names();
  std::vector<std::vector<double>> cols;
  for (const auto& n : names) cols.push_back(column(fit, n));
  const std::size_t S = cols.empty() ? 0 : cols[0].size();
  if (S == 0) throw std::invalid_argument(fit.files.at(0) + ": no draws");

  // Groups: per condition, stimulus bins (mean and sd) and the central-tendency slope, in the
  // space the fit's models give the data (Space). Linear under gaussian perception and under a
  // gaussian motor model (responses may be <= 0 even when the stimuli are positive).
  const Space space = spec.perception == PerceptionModel::vonmises ? Space::circle
                      : spec.perception == PerceptionModel::gaussian || spec.motor.model == MotorModel::gaussian ? Space::linear
                                                                                                                  : Space::log;
  const std::size_t N = data.size();
  // x: log s, s, or (circle) the stimulus's wrapped offset from the condition's circular mean
  // stimulus, so that the slope of d on x measures the pull toward the prior's mean.
  std::vector<double> x(N), y(N);
  auto response = [&](std::size_t i, double r) {
    return space == Space::circle ? wrap_angle(r - data.s[i]) : space == Space::linear ? r : std::log(r);
  };
  for (std::size_t i = 0; i < N; ++i) x[i] = space == Space::log ? std::log(data.s[i]) : data.s[i], y[i] = response(i, data.r[i]);
  const auto [mean_name, sd_name] = stat_names(space);
  std::vector<Group> groups;
  for (std::size_t c = 0; c < data.conditions(); ++c) {
    std::vector<std::size_t> trials_c;
    for (std::size_t i = 0; i < N; ++i)
      if (std::size_t(data.cond[i]) == c) trials_c.push_back(i);
    if (trials_c.empty()) continue;
    const auto bins = stimulus_bins(data, trials_c, options.bins);
    auto base_row = [&](const std::vector<std::size_t>& idx) {
      CheckRow r;
      r.subject = fit.subject;
      r.cond = data.cond_labels[c];
      r.n = idx.size();
      r.s_lo = INFINITY, r.s_hi = -INFINITY;
      double ls = 0;
      for (auto i : idx) r.s_lo = std::min(r.s_lo, data.s[i]), r.s_hi = std::max(r.s_hi, data.s[i]), ls += x[i];
      r.s_center = space == Space::circle ? circular_moments(data.s, idx).mean
                   : space == Space::linear ? ls / double(idx.size())
                                            : std::exp(ls / double(idx.size()));
      return r;
    };
    for (std::size_t b = 0; b < bins.size(); ++b)
      for (int kind : {0, 1}) {
        if (kind == 1 && bins[b].size() < 2) continue;
        Group g;
        g.row = base_row(bins[b]);
        g.row.stat = kind == 0 ? mean_name : sd_name;
        g.row.bin = std::to_string(b + 1);
        g.idx = bins[b];
        g.kind = kind;
        groups.push_back(std::move(g));
      }
    if (space == Space::circle) {  // x relative to this condition's circular mean stimulus
      const double centre = circular_moments(data.s, trials_c).mean;
      for (auto i : trials_c) x[i] = std::isnan(centre) ? data.s[i] : wrap_angle(data.s[i] - centre);
    }
    Group g;
    g.row = base_row(trials_c);
    g.row.stat = "slope";
    g.row.bin = "all";
    g.idx = trials_c;
    g.kind = 2;
    if (!std::isnan(eval(g, space, x, y))) groups.push_back(std::move(g));
  }
  for (auto& g : groups) g.row.observed = eval(g, space, x, y);

  // Replications at evenly spaced draws.
  const std::size_t D = std::min(options.draws, S);
  Rng rng(options.seed, subject_index);
  std::vector<double> out(model.output_names().size()), yrep(N);
  std::map<std::string, double> values;
  for (std::size_t d = 0; d < D; ++d) {
    const std::size_t s = D == S ? d : std::size_t(double(d) * double(S) / double(D));
    for (std::size_t p = 0; p < names.size(); ++p) values[names[p]] = cols[p][s];
    const auto q = model.unconstrain(values);
    model.write_outputs(q, rng, out);
    const std::size_t off = out.size() - N;  // r_rep.1..N come last
    for (std::size_t i = 0; i < N; ++i) yrep[i] = response(i, out[off + i]);
    for (auto& g : groups) g.rep.push_back(eval(g, space, x, yrep));
  }
  std::vector<CheckRow> rows;
  for (auto& g : groups) {
    CheckRow r = g.row;
    std::vector<double> rep;
    for (double v : g.rep)
      if (std::isfinite(v)) rep.push_back(v);
    if (rep.empty()) continue;
    if (space == Space::circle && g.kind == 0) {
      // Circular means: unwrap the replications and the observed value around the replications'
      // own circular mean, so that an interval straddling the seam at +-pi stays one interval.
      std::vector<std::size_t> all(rep.size());
      std::iota(all.begin(), all.end(), std::size_t(0));
      const double centre = circular_moments(rep, all).mean;
      if (std::isfinite(centre)) {
        for (double& v : rep) v = centre + wrap_angle(v - centre);
        r.observed = centre + wrap_angle(r.observed - centre);
      }
    }
    r.q5 = quantile(rep, 0.05);
    r.q50 = quantile(rep, 0.5);
    r.q95 = quantile(rep, 0.95);
    std::size_t ge = 0;
    for (double v : rep) ge += v >= r.observed;
    r.ppp = double(ge) / double(rep.size());
    r.outside = r.observed < r.q5 || r.observed > r.q95;
    rows.push_back(r);
  }
  return rows;
}

std::string slope_words(const std::vector<CheckRow>& rows) {
  for (const auto& r : rows) {
    if (r.stat == "mean_r") return "r on s";
    if (r.stat == "cmean_d") return "d = wrap(r - s) on wrap(s - the circular mean stimulus)";
  }
  return "log r on log s";
}

CheckVerdict judge(const std::vector<CheckRow>& rows) {
  CheckVerdict v;
  v.total = rows.size();
  for (const auto& r : rows) v.outside += r.outside;
  const std::map<std::string, std::string> what = {{"mean_log_r", "the mean of log r"}, {"sd_log_r", "the sd of log r"},
                                                   {"mean_r", "the mean of r"}, {"sd_r", "the sd of r"},
                                                   {"cmean_d", "the circular mean of the error r - s"},
                                                   {"csd_d", "the circular sd of the error r - s"}};
  for (const auto& [stat, words] : what) {
    std::size_t m = 0, above = 0, below = 0;
    std::map<std::string, std::size_t> where;  // condition (and subject) -> count outside
    for (const auto& r : rows) {
      if (r.stat != stat) continue;
      ++m;
      if (!r.outside) continue;
      (r.observed > r.q95 ? above : below) += 1;
      ++where[(r.subject.empty() ? "" : "subject " + r.subject + " ") + "condition " + r.cond];
    }
    if (m == 0) continue;
    const std::size_t limit = binom_quantile(m, 0.1, 0.99);
    if (above + below <= limit) continue;
    std::string w = words + ": " + std::to_string(above + below) + " of " + std::to_string(m) +
                    " stimulus bins outside their 90% predictive intervals (a well-fitting model: about " +
                    fmt(0.1 * double(m), 2) + ", at most " + std::to_string(limit) + " in 99% of data sets); observed above " +
                    "the interval in " + std::to_string(above) + ", below in " + std::to_string(below);
    const bool one_way = std::min(above, below) * 4 <= std::max(above, below);
    const bool sd = stat == "sd_log_r" || stat == "sd_r" || stat == "csd_d";
    if (sd && one_way)
      w += above > below ? ": the responses vary more than the fitted actor predicts (noise misfit)"
                         : ": the responses vary less than the fitted actor predicts (noise misfit)";
    else if (!sd && one_way && stat == "cmean_d")  // angles: larger means further counter-clockwise
      w += above > below ? ": responses counter-clockwise of the predicted ones" : ": responses clockwise of the predicted ones";
    else if (!sd && one_way)
      w += above > below ? ": responses larger than predicted" : ": responses smaller than predicted";
    else if (!sd)
      w += ": the mean response does not follow the stimulus as the fitted actor predicts";
    std::string in;
    for (const auto& [k, n] : where) in += (in.empty() ? "" : ", ") + k + " (" + std::to_string(n) + ")";
    v.warnings.push_back(w + "; in " + in);
  }
  const bool circle = std::any_of(rows.begin(), rows.end(), [](const CheckRow& r) { return r.stat == "cmean_d"; });
  for (const auto& r : rows) {
    if (r.stat != "slope" || (r.ppp >= 0.005 && r.ppp <= 0.995)) continue;
    v.warnings.push_back((r.subject.empty() ? "" : "subject " + r.subject + ", ") + "condition " + r.cond +
                         ": the slope of " + slope_words(rows) + " is " + fmt(r.observed) + ", the fitted actor predicts " +
                         fmt(r.q50) + " (90% interval " + fmt(r.q5) + " to " + fmt(r.q95) + ", predictive p " + fmt(r.ppp, 2) +
                         "): " + (r.observed < r.q50 ? "more" : "less") +
                         (circle ? " pull toward the circular mean stimulus than predicted" : " regression to the mean than predicted"));
  }
  return v;
}

void write_check_csv(const std::string& path, const std::vector<CheckRow>& rows) {
  std::ofstream out(path + ".tmp");
  if (!out) throw std::runtime_error(path + ": cannot write");
  out << "subject,cond,stat,bin,s_lo,s_hi,s_center,n,observed,pred_q5,pred_median,pred_q95,ppp,outside\n";
  for (const auto& r : rows)
    out << r.subject << ',' << r.cond << ',' << r.stat << ',' << r.bin << ',' << number(r.s_lo) << ',' << number(r.s_hi)
        << ',' << number(r.s_center) << ',' << r.n << ',' << number(r.observed) << ',' << number(r.q5) << ','
        << number(r.q50) << ',' << number(r.q95) << ',' << number(r.ppp) << ',' << (r.outside ? 1 : 0) << '\n';
  out.close();
  if (!out) throw std::runtime_error(path + ": write failed");
  fs::rename(path + ".tmp", path);
}

std::vector<CheckRow> read_check_csv(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::invalid_argument(path + ": cannot open file");
  std::string line;
  std::size_t lineno = 1;
  if (!std::getline(in, line) || line.rfind("subject,cond,stat,bin,", 0) != 0)
    throw std::invalid_argument(path + ":1: not a check file (expected the header written by bactor check)");
  std::vector<CheckRow> rows;
  while (std::getline(in, line)) {
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    std::vector<std::string> f;
    std::stringstream ss(line);
    std::string x;
    while (std::getline(ss, x, ',')) f.push_back(x);
    if (!line.empty() && line.back() == ',') f.emplace_back();
    if (f.size() != 14) throw std::invalid_argument(path + ":" + std::to_string(lineno) + ": expected 14 values");
    auto num = [&](const std::string& t) {
      try {
        std::size_t used = 0;
        const double v = std::stod(t, &used);
        if (used != t.size()) throw std::invalid_argument("");
        return v;
      } catch (const std::exception&) {
        if (t == "nan") return kNaN;
        throw std::invalid_argument(path + ":" + std::to_string(lineno) + ": bad number '" + t + "'");
      }
    };
    CheckRow r;
    r.subject = f[0], r.cond = f[1], r.stat = f[2], r.bin = f[3];
    r.s_lo = num(f[4]), r.s_hi = num(f[5]), r.s_center = num(f[6]);
    r.n = std::size_t(num(f[7]));
    r.observed = num(f[8]), r.q5 = num(f[9]), r.q50 = num(f[10]), r.q95 = num(f[11]), r.ppp = num(f[12]);
    r.outside = f[13] == "1";
    rows.push_back(r);
  }
  return rows;
}

} // namespace bactor::cli
