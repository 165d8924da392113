// SPDX-License-Identifier: MIT
// The action network of DESIGN.md §3 (the amortized actor): theta -> fixed input scaling ->
// MLP with swish hidden layers -> (x0, x1, x2) -> the output head:
//   softplus (DESIGN.md §3):  a(m, theta) = softplus(softplus(x0) m^sigmoid(x1) + x2)
//   power:                    a(m, theta) = exp(x0) m^sigmoid(x1)              (x2 unused)
// The power head has exactly the shape of the optimal action of every cost that is homogeneous
// in (s, r) (QuadraticCost, QuadraticCostQuadraticEffort, AbsoluteCost, AsymmetricQuadratic):
// the posterior of s given m is log-normal with a location linear in log m and a scale free of
// m, so the optimum is c(theta) exp(mu_post). The softplus head cannot represent k m^w exactly
// for actions of order 1 (its best fit errs by ~0.3% rms in log a on the reference study's
// parameters), which biases network posteriors; it remains the choice for the other costs.
// Weights are trained in float (models/train.hpp) and evaluated here in double precision.
// Files are .safetensors (models/safetensors.hpp).
#pragma once

#include <cmath>
#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include <xsimd/xsimd.hpp>
#include <nlohmann/json.hpp>

namespace bactor {

enum class NetworkHead { softplus, power };
/// "softplus" | "power"; throws std::invalid_argument otherwise.
NetworkHead parse_network_head(const std::string& name);
const char* to_string(NetworkHead head);
/// The formula recorded in the file's metadata.
const char* head_formula(NetworkHead head);

/// Fixed affine input map z = (t(x) − shift) / scale with t = log when `log` is set.
struct InputScaling {
  bool log = false;
  double shift = 0.0, scale = 1.0;
};

/// Architecture and weights in the flat layout shared with the trainer: for each layer l
/// (sizes[l] -> sizes[l+1]), the weight matrix W_l (out x in, row-major), then the bias b_l.
struct MlpLayout {
  std::vector<int> sizes;  // n_inputs, hidden..., 3
  std::size_t n_layers() const { return sizes.size() - 1; }
  std::size_t weight_offset(std::size_t l) const;
  std::size_t bias_offset(std::size_t l) const { return weight_offset(l) + std::size_t(sizes[l + 1]) * std::size_t(sizes[l]); }
  std::size_t n_params() const { return weight_offset(n_layers()); }
};

class ActionNetwork {
public:
  /// Activations for one theta in double precision; reused across calls (no allocation
  /// after the first use).
  struct Workspace {
    // Per layer, padded to a multiple of the SIMD width: pre-activations, sigmoid(pre),
    // activations (act[0] = scaled input) and backward scratch.
    std::vector<std::vector<double, xsimd::aligned_allocator<double, 64>>> pre, sig, act, grad;
    std::vector<double> theta;  // the input of the last forward()
  };

  ActionNetwork() = default;
  /// A network from its parts. `params` in the MlpLayout order; `scaling` one per input.
  ActionNetwork(std::string cost_name, std::vector<std::string> param_names, std::vector<int> sizes,
                std::vector<float> params, std::vector<InputScaling> scaling, nlohmann::json metadata,
                NetworkHead head = NetworkHead::softplus);

  static ActionNetwork load(const std::string& path);  // .safetensors; throws
      // std::invalid_argument naming the file and what is wrong (truncated, bad header, ...)
  void save(const std::string& path) const;            // temp file + rename

  const std::string& cost_name() const { return cost_name_; }
  NetworkHead head() const { return head_; }
  const std::vector<std::string>& param_names() const { return param_names_; } // theta order
  std::size_t n_inputs() const { return param_names_.size(); }
  const nlohmann::json& metadata() const { return metadata_; }
  nlohmann::json& metadata() { return metadata_; }
  const MlpLayout& layout() const { return layout_; }
  std::span<const float> parameters() const { return params_; }
  const std::vector<InputScaling>& scaling() const { return scaling_; }

  /// x = head outputs at theta (double precision).
  void forward(std::span<const double> theta, std::span<double, 3> x, Workspace& ws) const;
  /// dtheta = (dL/dx)^T dx/dtheta, using the activations of the last forward() on ws.
  void backward(std::span<const double, 3> dx, std::span<double> dtheta, Workspace& ws) const;
  /// a(m) from head outputs (x0, x1, x2).
  static double action(NetworkHead head, std::span<const double, 3> x, double m);
  double action(std::span<const double, 3> x, double m) const { return action(head_, x, m); }
  /// a(m, theta) in one call (convenience; allocates a workspace).
  double action(std::span<const double> theta, double m) const;

private:
  std::string cost_name_;
  NetworkHead head_ = NetworkHead::softplus;
  std::vector<std::string> param_names_;
  MlpLayout layout_;
  std::vector<float> params_;
  std::vector<InputScaling> scaling_;
  nlohmann::json metadata_;
  // Copies of the weights, zero-padded to the SIMD width: W^T (in x out_p) for the forward
  // pass and W (out x in_p) for the backward pass, kept in float (the weights are floats, so
  // widening on load is exact; both copies then fit in L1), and the biases (out_p) in double.
  using dvec = std::vector<double, xsimd::aligned_allocator<double, 64>>;
  using fvec = std::vector<float, xsimd::aligned_allocator<float, 64>>;
  std::vector<fvec> wt_, w_;
  std::vector<dvec> b_;
  std::vector<std::size_t> padded_;  // padded size of every layer
};

/// Numerically stable softplus log(1 + e^x) and its derivative sigmoid(x).
inline double softplus(double x) { return x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x)); }
inline double sigmoid(double x) {
  if (x >= 0) return 1.0 / (1.0 + std::exp(-x));
  const double e = std::exp(x);
  return e / (1.0 + e);
}

} // namespace bactor
