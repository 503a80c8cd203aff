// SPI mode-0 slave, MSB first, oversampled by the fabric clock (docs/fpga-protocol.md §2).
//
// SCLK, CS and MOSI pass through two-flip-flop synchronisers; every event below is detected with the same latency,
// so byte boundaries and chip-select edges stay in the order they had on the wire. MISO shifts right after a detected
// rising edge, which gives the master a whole SCLK period to sample the next bit: the slave works up to f_clk/4.
// MISO idles at 1, so the first bit of a frame (S0 bit 7, always 1) is right however late CS is detected.
`default_nettype none

module tmv_spi_slave (
    input  wire       clk,
    input  wire       sclk_pin,
    input  wire       cs_n_pin,
    input  wire       mosi_pin,
    output wire       miso,
    output wire       frame_start,  // CS fell
    output wire       frame_end,    // CS rose
    output wire       byte_valid,   // rx_byte holds a complete byte
    output wire [7:0] rx_byte,
    input  wire       load_status,  // load status_byte into the MISO shifter (once per frame, before the first edge)
    input  wire [7:0] status_byte,
    input  wire [7:0] next_byte     // sent after the byte that completes now
);
    reg [2:0] sclk_s = 3'b000;
    reg [2:0] cs_s = 3'b111;
    reg [1:0] mosi_s = 2'b00;
    always @(posedge clk) begin
        sclk_s <= {sclk_s[1:0], sclk_pin};
        cs_s   <= {cs_s[1:0], cs_n_pin};
        mosi_s <= {mosi_s[0], mosi_pin};
    end

    wire selected  = ~cs_s[1];
    wire sclk_rise = sclk_s[1] & ~sclk_s[2] & selected;
    assign frame_start = cs_s[2] & ~cs_s[1];
    assign frame_end   = ~cs_s[2] & cs_s[1];

    reg [2:0] bit_index = 3'd0;
    reg [6:0] rx_shift = 7'd0;
    reg [7:0] tx_shift = 8'hFF;
    assign byte_valid = sclk_rise && bit_index == 3'd7;
    assign rx_byte = {rx_shift, mosi_s[1]};
    assign miso = tx_shift[7];

    always @(posedge clk) begin
        if (!selected) begin
            bit_index <= 3'd0;
        end else if (sclk_rise) begin
            bit_index <= bit_index + 3'd1;
            rx_shift <= {rx_shift[5:0], mosi_s[1]};
        end
        if (frame_end)
            tx_shift <= 8'hFF;
        else if (load_status)
            tx_shift <= status_byte;
        else if (sclk_rise)
            tx_shift <= bit_index == 3'd7 ? next_byte : {tx_shift[6:0], 1'b0};
    end
endmodule

`default_nettype wire
