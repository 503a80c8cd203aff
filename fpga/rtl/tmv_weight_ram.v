// Weight memory: 16,384 words of 64 bits = 128 KiB, one word (32 ternary weights) per clock, byte writes.
// On the UP5K these are the four 256-Kbit SPRAMs side by side (SPRAM s holds bytes 2s and 2s+1 of each word);
// in simulation a plain array with the same one-clock read latency.
`default_nettype none

module tmv_weight_ram (
    input  wire        clk,
    input  wire [16:0] write_address,  // byte address
    input  wire [7:0]  write_data,
    input  wire        write_enable,
    input  wire [13:0] read_word,
    output wire [63:0] read_data
);
    wire [13:0] word = write_enable ? write_address[16:3] : read_word;
`ifdef SYNTHESIS
    genvar s;
    generate
        for (s = 0; s < 4; s = s + 1) begin : spram
            wire mine = write_enable && write_address[2:1] == s;
            SB_SPRAM256KA ram (
                .ADDRESS(word),
                .DATAIN({write_data, write_data}),
                .MASKWREN(write_address[0] ? 4'b1100 : 4'b0011),
                .WREN(mine),
                .CHIPSELECT(1'b1),
                .CLOCK(clk),
                .STANDBY(1'b0),
                .SLEEP(1'b0),
                .POWEROFF(1'b1),
                .DATAOUT(read_data[16*s +: 16])
            );
        end
    endgenerate
`else
    reg [63:0] mem [0:16383];
    reg [63:0] out = 64'd0;
    assign read_data = out;
    integer i;
    initial for (i = 0; i < 16384; i = i + 1) mem[i] = 64'd0;
    always @(posedge clk) begin
        if (write_enable)
            mem[word][8*write_address[2:0] +: 8] <= write_data;
        out <= mem[word];
    end
`endif
endmodule

`default_nettype wire
