// UP5K top level (UPduino v3.x): the internal oscillator clocks everything; four SPI pins to the host, and BUSY / ERR
// outputs a host may watch on GPIOs (the protocol does not need them: every frame carries the status).
// The clock is the 48 MHz HFOSC divided by 2 (fpga/README.md, "Resources and timing": nextpnr's Fmax is about 41 MHz,
// so 48 MHz is missed and 24 MHz is the fastest HFOSC clock that closes). INFO reports 24 MHz and an SCLK of at most
// 6 MHz (f_clk / 4): tmv_core's defaults, which the co-simulation uses too; the host paces itself by INFO.
`default_nettype none

module tmv_up5k_top (
    input  wire spi_sclk,
    input  wire spi_cs_n,
    input  wire spi_mosi,
    output wire spi_miso,
    output wire busy,
    output wire error
);
    wire clk;
    SB_HFOSC #(.CLKHF_DIV("0b01")) oscillator (.CLKHFPU(1'b1), .CLKHFEN(1'b1), .CLKHF(clk));

    tmv_core core (
        .clk(clk), .sclk(spi_sclk), .cs_n(spi_cs_n), .mosi(spi_mosi), .miso(spi_miso),
        .busy_led(busy), .error_led(error)
    );
endmodule

`default_nettype wire
