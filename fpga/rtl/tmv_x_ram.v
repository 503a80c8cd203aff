// Activation buffers: two vectors of up to 2,048 int8, read 32 values per clock.
//
// The read side matches a 64-bit weight word: word m of 256-column block b holds the weights of columns
// 256b + {8m..8m+7} + {0, 64, 128, 192} (docs/fpga-protocol.md §5), so the memory is split into 16 EBRs of 16 bits:
// EBR 4q+p holds x[256b + 64q + 8m + 2p + {0,1}] at address {buffer, b, m}. Bytes arrive in order (LOAD_X) and are
// written in pairs, so each EBR sees plain 16-bit writes.
`default_nettype none

module tmv_x_ram (
    input  wire         clk,
    input  wire         write_buffer,
    input  wire [10:0]  write_index,   // k, the column
    input  wire [7:0]   write_data,
    input  wire         write_enable,
    input  wire         read_buffer,
    input  wire [5:0]   read_word,     // {b, m}
    output wire [255:0] read_data      // lane 8q + i = x[256b + 64q + 8m + i] in bits [8(8q+i) +: 8]
);
    reg [7:0] low_byte = 8'd0;
    always @(posedge clk)
        if (write_enable && !write_index[0])
            low_byte <= write_data;

    wire [6:0] write_word = {write_buffer, write_index[10:8], write_index[5:3]};
    wire [6:0] read_address = {read_buffer, read_word};

    genvar e;
    generate
        for (e = 0; e < 16; e = e + 1) begin : ebr
            reg [15:0] mem [0:127];
            reg [15:0] out = 16'd0;
            wire mine = write_enable && write_index[0] && {write_index[7:6], write_index[2:1]} == e;
            always @(posedge clk) begin
                if (mine)
                    mem[write_word] <= {write_data, low_byte};
                out <= mem[read_address];
            end
            // EBR 4q+p carries lanes 8q+2p and 8q+2p+1.
            assign read_data[16*e +: 16] = out;
        end
    endgenerate
endmodule

`default_nettype wire
