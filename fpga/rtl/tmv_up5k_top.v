// UP5K top level (UPduino v3.x): the internal oscillator clocks everything; four SPI pins to the host, and BUSY / ERR
// outputs a host may watch on GPIOs (the protocol does not need them: every frame carries the status).
// The clock is the 48 MHz HFOSC, undivided (fpga/syn/build.sh fails where nextpnr's Fmax is below it); INFO reports
// 48 MHz and an SCLK of at most 12 MHz (f_clk / 4), and the host paces itself by INFO.
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
    SB_HFOSC #(.CLKHF_DIV("0b00")) oscillator (.CLKHFPU(1'b1), .CLKHFEN(1'b1), .CLKHF(clk));

    tmv_core #(.FABRIC_KHZ(32'd48000), .SCLK_KHZ(32'd12000)) core (
        .clk(clk), .sclk(spi_sclk), .cs_n(spi_cs_n), .mosi(spi_mosi), .miso(spi_miso),
        .busy_led(busy), .error_led(error)
    );
endmodule

`default_nettype wire
