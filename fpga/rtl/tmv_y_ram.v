// Result buffer: 2,048 sums of 20 bits (|y| <= 128 * 2048 = 2^18 needs 19; sign-extended on the way out).
`default_nettype none

module tmv_y_ram (
    input  wire        clk,
    input  wire        write_enable,
    input  wire [10:0] write_row,
    input  wire [19:0] write_value,
    input  wire [10:0] read_row,
    output reg  [19:0] read_value = 20'd0
);
    reg [19:0] mem [0:2047];
    always @(posedge clk) begin
        if (write_enable)
            mem[write_row] <= write_value;
        read_value <= mem[read_row];
    end
endmodule

`default_nettype wire
