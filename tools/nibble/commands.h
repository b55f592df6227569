// Subcommands of the `nibble` binary. Each registers itself on the CLI11 app and returns the
// callback's exit status through `exit_code`.
#pragma once

#include <CLI/CLI.hpp>

namespace nibble::cli {

void add_formats_command(CLI::App & app, int & exit_code);
void add_eval_formats_command(CLI::App & app, int & exit_code);
void add_inspect_command(CLI::App & app, int & exit_code);
void add_quantize_command(CLI::App & app, int & exit_code);
void add_run_command(CLI::App & app, int & exit_code);
void add_perplexity_command(CLI::App & app, int & exit_code);
void add_imatrix_command(CLI::App & app, int & exit_code);

}  // namespace nibble::cli
