// `nibble formats`: the format table, as the library sees it.
#include "commands.h"
#include "formats/format_table.h"

#include <cstdio>

namespace nibble::cli {

void add_formats_command(CLI::App & app, int & exit_code) {
    CLI::App * cmd = app.add_subcommand("formats", "List the storage formats nibble reads and writes");
    cmd->callback([&exit_code] {
        std::printf("%-8s %9s %6s %6s %7s %s\n", "format", "ggml_type", "block", "bytes", "bpw", "kind");
        for (const FormatInfo & f : kFormats) {
            char type_id[16];
            std::snprintf(type_id, sizeof type_id, "%d", f.ggml_type);
            std::printf("%-8s %9s %6d %6d %7.4f %s\n", f.name, f.ggml_type >= 0 ? type_id : "-", f.block_size,
                        f.type_size, f.bits_per_weight(), f.quantized ? "block-quantized" : "scalar");
        }
        exit_code = 0;
    });
}

}  // namespace nibble::cli
