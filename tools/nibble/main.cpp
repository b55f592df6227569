// nibble: quantize large language models and run them fast. One binary, many subcommands.
#include "commands.h"

#include <cstdio>
#include <exception>

int main(int argc, char ** argv) {
    CLI::App app{"nibble: LLM quantization (every GGUF block format, NVFP4 first) and inference"};
    app.set_version_flag("--version", "nibble 0.1.0");
    app.require_subcommand(1);
    int exit_code = 0;
    nibble::cli::add_formats_command(app, exit_code);
    nibble::cli::add_eval_formats_command(app, exit_code);
    nibble::cli::add_inspect_command(app, exit_code);
    nibble::cli::add_quantize_command(app, exit_code);
    nibble::cli::add_run_command(app, exit_code);
    nibble::cli::add_perplexity_command(app, exit_code);
    nibble::cli::add_imatrix_command(app, exit_code);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError & e) {
        return app.exit(e);
    } catch (const std::exception & e) {
        std::fprintf(stderr, "nibble: error: %s\n", e.what());
        return 1;
    }
    return exit_code;
}
