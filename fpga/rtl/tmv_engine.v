// The dot-product engine: y[r] = sum_k t[r,k] * x[k], row after row, 32 weights per clock, no multipliers.
//
// Why 32: one read of the four SPRAMs side by side is 64 bits = 32 two-bit codes, and 16 EBRs of 16 bits deliver the
// 32 matching int8 activations in the same clock. Every weight of a row is consumed exactly once, so the engine runs
// at the memory's full width; a wider engine would need a second weight port that the UP5K does not have.
//
// Per lane the code selects +x, "not x" (= -x - 1) or 0; the -1s are put back once per word by adding the number of
// negative codes. That makes each lane a row of LUTs with no adder of its own, and leaves one 32-input adder tree,
// pipelined in two stages, and one accumulator. Codes: 00 = -1, 01 = 0, 10 = +1, 11 = reserved (reads as 0).
`default_nettype none

module tmv_engine (
    input  wire         clk,
    input  wire         start,
    input  wire         abort,
    input  wire [13:0]  first_word,   // slot base / 8
    input  wire [11:0]  rows,         // 1..2048
    input  wire [3:0]   blocks,       // padded columns / 256: 1..8
    input  wire         buffer,
    output wire [13:0]  weight_word,
    input  wire [63:0]  weight_data,
    output wire         x_buffer,
    output wire [5:0]   x_word,
    input  wire [255:0] x_data,
    output reg          y_write = 1'b0,
    output reg  [10:0]  y_row = 11'd0,
    output reg  [19:0]  y_value = 20'd0
);
    // Issue: one weight word and one activation word per clock.
    reg        active = 1'b0;
    reg [13:0] word = 14'd0;
    reg [5:0]  column_word = 6'd0;
    reg [10:0] row = 11'd0;
    reg [11:0] rows_left = 12'd0;
    reg [3:0]  blocks_r = 4'd1;
    reg        buffer_r = 1'b0;
    wire       row_last = {1'b0, column_word} == {blocks_r, 3'b000} - 7'd1;  // 8 words per block

    assign weight_word = word;
    assign x_buffer = buffer_r;
    assign x_word = column_word;

    always @(posedge clk) begin
        if (abort) begin
            active <= 1'b0;
        end else if (start) begin
            active <= 1'b1;
            word <= first_word;
            column_word <= 6'd0;
            row <= 11'd0;
            rows_left <= rows;
            blocks_r <= blocks;
            buffer_r <= buffer;
        end else if (active) begin
            word <= word + 14'd1;
            if (row_last) begin
                column_word <= 6'd0;
                row <= row + 11'd1;
                rows_left <= rows_left - 12'd1;
                if (rows_left == 12'd1)
                    active <= 1'b0;
            end else begin
                column_word <= column_word + 6'd1;
            end
        end
    end

    // Stage 1: the memories answer one clock after the address.
    reg        v1 = 1'b0, first1 = 1'b0, last1 = 1'b0;
    reg [10:0] row1 = 11'd0;
    always @(posedge clk) begin
        v1 <= active && !abort;
        first1 <= column_word == 6'd0;
        last1 <= row_last;
        row1 <= row;
    end

    // Stage 2: select per lane, count the negative codes.
    reg [9*32-1:0] terms = 0;
    reg [5:0]      negatives = 6'd0;
    reg            v2 = 1'b0, first2 = 1'b0, last2 = 1'b0;
    reg [10:0]     row2 = 11'd0;
    integer l;
    reg [1:0] code;
    reg [8:0] x9;
    reg [5:0] count;
    always @(posedge clk) begin
        count = 6'd0;
        for (l = 0; l < 32; l = l + 1) begin
            // Lane 8q+i: byte i of the word, bits 2q+1..2q.
            code = weight_data[8 * (l % 8) + 2 * (l / 8) +: 2];
            x9 = {x_data[8 * l + 7], x_data[8 * l +: 8]};
            terms[9 * l +: 9] <= code == 2'b10 ? x9 : code == 2'b00 ? ~x9 : 9'd0;
            count = count + (code == 2'b00 ? 6'd1 : 6'd0);
        end
        negatives <= count;
        v2 <= v1 && !abort;
        first2 <= first1;
        last2 <= last1;
        row2 <= row1;
    end

    // Stage 3: 32 -> 4 partial sums.
    reg [12*4-1:0] quarter = 0;
    reg [5:0]      negatives3 = 6'd0;
    reg            v3 = 1'b0, first3 = 1'b0, last3 = 1'b0;
    reg [10:0]     row3 = 11'd0;
    integer q, j;
    reg [11:0] s;
    always @(posedge clk) begin
        for (q = 0; q < 4; q = q + 1) begin
            s = 12'd0;
            for (j = 0; j < 8; j = j + 1)
                s = s + {{3{terms[9 * (8 * q + j) + 8]}}, terms[9 * (8 * q + j) +: 9]};
            quarter[12 * q +: 12] <= s;
        end
        negatives3 <= negatives;
        v3 <= v2 && !abort;
        first3 <= first2;
        last3 <= last2;
        row3 <= row2;
    end

    // Stage 4: the word's sum, then into the row's accumulator; the row's result leaves on its last word.
    reg [19:0] accumulator = 20'd0;
    wire [19:0] word_sum = {{8{quarter[11]}}, quarter[11:0]} + {{8{quarter[23]}}, quarter[23:12]}
                         + {{8{quarter[35]}}, quarter[35:24]} + {{8{quarter[47]}}, quarter[47:36]}
                         + {14'd0, negatives3};
    wire [19:0] row_sum = (first3 ? 20'd0 : accumulator) + word_sum;
    always @(posedge clk) begin
        y_write <= 1'b0;
        if (v3 && !abort) begin
            accumulator <= row_sum;
            if (last3) begin
                y_write <= 1'b1;
                y_row <= row3;
                y_value <= row_sum;
            end
        end
    end
endmodule

`default_nettype wire
