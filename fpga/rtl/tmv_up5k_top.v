// UP5K top level (UPduino v3.x): the internal oscillator clocks everything; four SPI pins to the host, and BUSY / ERR
// outputs a host may watch on GPIOs (the protocol does not need them: every frame carries the status).
// The clock is the 48 MHz HFOSC divided by 4: the frame logic's end-of-frame decision closes timing at 12 MHz today
// (fpga/README.md, "Timing"); INFO reports 12 MHz and an SCLK of at most 3 MHz, and the host paces itself by INFO.
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
    SB_HFOSC #(.CLKHF_DIV("0b10")) oscillator (.CLKHFPU(1'b1), .CLKHFEN(1'b1), .CLKHF(clk));

    tmv_core #(.FABRIC_KHZ(32'd12000), .SCLK_KHZ(32'd3000)) core (
        .clk(clk), .sclk(spi_sclk), .cs_n(spi_cs_n), .mosi(spi_mosi), .miso(spi_miso),
        .busy_led(busy), .error_led(error)
    );
endmodule

`default_nettype wire
