// C ABI around the Verilated TMV1 core, so that the C# host (RtlSimDevice) drives the gateware itself.
//
// tmv_frame plays one chip-select frame the way a mode-0 master does: CS low, then for every bit SCLK low for half a
// bit time with MOSI set, high for the other half; MISO is sampled on the rising edge. CS rises in the last fabric
// clock of the frame, so a frame of n bytes takes exactly 8 * n * clocks_per_bit fabric clocks and frames follow each
// other with no clocks in between: the same time base as the C# emulator's virtual clock.
#include <cstdint>
#include <memory>
#include "Vtmv_core.h"
#include "verilated.h"

namespace {
struct Device {
    std::unique_ptr<VerilatedContext> context;
    std::unique_ptr<Vtmv_core> core;
    uint64_t clocks = 0;

    void tick() {
        core->clk = 1;
        core->eval();
        core->clk = 0;
        core->eval();
        clocks++;
    }
};
}

extern "C" {

void* tmv_create() {
    auto* d = new Device();
    d->context = std::make_unique<VerilatedContext>();
    d->core = std::make_unique<Vtmv_core>(d->context.get());
    d->core->cs_n = 1;
    d->core->sclk = 0;
    d->core->mosi = 0;
    d->core->clk = 0;
    d->core->eval();
    // Let the synchronisers settle with CS high, as after configuration; not counted as device time.
    for (int i = 0; i < 8; i++) d->tick();
    d->clocks = 0;
    return d;
}

void tmv_destroy(void* handle) {
    auto* d = static_cast<Device*>(handle);
    d->core->final();
    delete d;
}

// Returns 0, or -1 when clocks_per_bit is not an even number of at least 4 (the slave needs f_clk / 4 at most).
int tmv_frame(void* handle, const uint8_t* mosi, uint8_t* miso, int32_t length, int32_t clocks_per_bit) {
    auto* d = static_cast<Device*>(handle);
    if (clocks_per_bit < 4 || clocks_per_bit % 2 != 0 || length < 0) return -1;
    if (length == 0) return 0;
    const int half = clocks_per_bit / 2;
    const int64_t total = int64_t(length) * 8 * clocks_per_bit;
    for (int64_t c = 0; c < total; c++) {
        const int64_t bit = c / clocks_per_bit;
        const int phase = int(c % clocks_per_bit);
        const int byte = int(bit / 8), shift = 7 - int(bit % 8);
        d->core->cs_n = c == total - 1 ? 1 : 0;
        d->core->sclk = phase >= half ? 1 : 0;
        d->core->mosi = (mosi[byte] >> shift) & 1;
        if (phase == half) {
            if (shift == 7) miso[byte] = 0;
            miso[byte] |= uint8_t((d->core->miso & 1) << shift);
        }
        d->tick();
    }
    d->core->sclk = 0;
    return 0;
}

uint64_t tmv_clocks(void* handle) { return static_cast<Device*>(handle)->clocks; }

}
