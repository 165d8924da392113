// SPDX-License-Identifier: MIT
// Minimal .safetensors reader/writer for float32 tensors: an 8-byte little-endian header
// length, a JSON header {name: {dtype, shape, data_offsets}, "__metadata__": {str: str}},
// then the raw little-endian tensor bytes.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace bactor {

struct F32Tensor {
  std::string name;
  std::vector<std::int64_t> shape;
  std::vector<float> data;
};

struct SafetensorsContent {
  std::vector<F32Tensor> tensors;                   // in file-offset order
  std::map<std::string, std::string> metadata;      // "__metadata__"
  const F32Tensor* find(const std::string& name) const;
};

/// Writes to `path` + ".tmp" and renames to `path`. Throws std::runtime_error on I/O failure.
void write_safetensors(const std::string& path, const SafetensorsContent& content);

/// Reads and validates: header length against the file size, JSON syntax, dtype F32 only,
/// shapes, offsets inside the data and non-overlapping with no gaps, finite values, string
/// metadata. Throws std::invalid_argument("FILE: what is wrong").
SafetensorsContent read_safetensors(const std::string& path);

} // namespace bactor
