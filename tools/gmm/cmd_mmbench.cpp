// placeholder until the guestmm helper writes the hosted benchmark
#include <cstdio>
#include "commands.h"
int gmm::cli::cmd_mmbench(int, char**) { std::fprintf(stderr, "gmm mmbench: not built yet\n"); return 2; }
