// SPDX-License-Identifier: MIT
// TEMPORARY (bench only): main's trainer before issue 14, for a same-run speed comparison.
#pragma once

#include <memory>
#include <span>

#include <bactor/models/train.hpp>

namespace bactor::legacy {

class Trainer {
public:
  explicit Trainer(const TrainSettings& settings);
  ~Trainer();
  double step();
  std::span<float> parameters();

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

} // namespace bactor::legacy
