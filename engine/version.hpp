// SPDX-License-Identifier: MIT
// The library's version, as built (recorded in network files and draws files).
#pragma once

namespace bactor {
/// The version string, e.g. "0.1.0".
const char* version() noexcept;
} // namespace bactor
