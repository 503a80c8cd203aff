// TMV1 device: the frame logic of docs/fpga-protocol.md around the ternary engine, for one fabric clock domain.
//
// Timing model (docs/fpga-protocol.md §6). Work (RUN, COMMIT_W) counts fabric clocks from the end of the accepting
// frame. Its effects (DONE, the results, VALID or WEIGHT_CRC) take place at three kinds of moments only, exactly as in
// the C# emulator: between frames (including the clock that latches a frame's status), at the end of a response
// command's header (READ_Y decides NOT_READY or OK there), and at the end of a frame. Inside a frame the command sees
// the device as it was when the frame began. So BUSY and DONE change in the same frames as in the emulator, and
// the co-simulation's MISO bytes are identical to the emulator's.
`default_nettype none

module tmv_core #(
    parameter [31:0] BUILD_ID = 32'h314C5452,  // "RTL1", little-endian in INFO
    parameter [31:0] FABRIC_KHZ = 32'd24000,   // what INFO reports: the UP5K build's clock (tmv_up5k_top.v)
    parameter [31:0] SCLK_KHZ = 32'd6000       // and the fastest SCLK for it (f_clk / 4)
) (
    input  wire clk,
    input  wire sclk,
    input  wire cs_n,
    input  wire mosi,
    output wire miso,
    output wire busy_led,
    output wire error_led
);
`include "tmv_crc.vh"

    // ---- opcodes, error codes, work
    localparam [7:0] OP_NOP = 8'h00, OP_INFO = 8'h01, OP_GET_ERR = 8'h02, OP_DEFINE = 8'h10, OP_LOAD_W = 8'h11,
                     OP_COMMIT = 8'h12, OP_LOAD_X = 8'h20, OP_RUN = 8'h30, OP_READ_Y = 8'h40,
                     OP_CLEAR_ERR = 8'h7E, OP_SOFT_RESET = 8'h7F;
    localparam [3:0] E_NONE = 4'h0, E_HEADER_CRC = 4'h1, E_PAYLOAD_CRC = 4'h2, E_UNKNOWN_OPCODE = 4'h3,
                     E_BAD_FIELD = 4'h4, E_BUSY = 4'h5, E_SLOT_UNDEFINED = 4'h6, E_BAD_REGION = 4'h7,
                     E_OUT_OF_RANGE = 4'h8, E_WEIGHT_CRC = 4'h9, E_SLOT_NOT_VALID = 4'hA, E_STALE_X = 4'hB,
                     E_SHAPE = 4'hC, E_NO_RESULT = 4'hD, E_SHORT_FRAME = 4'hE;
    localparam [1:0] R_OK = 2'd0, R_NOT_READY = 2'd1, R_REFUSED = 2'd2;
    localparam [1:0] W_NONE = 2'd0, W_RUN = 2'd1, W_COMMIT = 2'd2;
    localparam OVERHEAD = 16;
    localparam [17:0] OVERHEAD_CLOCKS = OVERHEAD;

    // ---- SPI
    wire frame_start, frame_end, byte_valid;
    wire [7:0] rx_byte;
    reg load_status = 1'b0;
    reg [7:0] tx_next = 8'd0;
    wire [7:0] status_byte;
    tmv_spi_slave spi (
        .clk(clk), .sclk_pin(sclk), .cs_n_pin(cs_n), .mosi_pin(mosi), .miso(miso),
        .frame_start(frame_start), .frame_end(frame_end), .byte_valid(byte_valid), .rx_byte(rx_byte),
        .load_status(load_status), .status_byte(status_byte), .next_byte(tx_next)
    );

    // ---- device state
    reg        err = 1'b0, crc_err = 1'b0, reset_flag = 1'b1, done = 1'b0;
    reg [7:0]  last_tag = 8'd0;
    reg [3:0]  err_code = E_NONE;
    reg [7:0]  err_op = 8'd0, err_tag = 8'd0;
    reg [31:0] frames = 32'd0, crc_errors = 32'd0;
    reg [15:0] defined = 16'd0, valid = 16'd0;
    // The slot table: {blocks (padded columns / 256), rows, units (bytes / 64), base / 64} in block RAM; one read
    // port, addressed by the overlap scan while it runs and by the command's slot argument otherwise.
    (* ram_style = "block" *) reg [38:0] slot_table [0:15];
    reg [38:0] slot_entry = 39'd0;
    reg [7:0]  x_tag0 = 8'd0, x_tag1 = 8'd0;
    reg [3:0]  x_blocks0 = 4'd0, x_blocks1 = 4'd0;
    reg [1:0]  work = W_NONE;
    reg [17:0] work_left = 18'd0;
    reg        run_buffer = 1'b0, run_format = 1'b0;
    reg [7:0]  run_tag = 8'd0;
    reg [11:0] run_rows = 12'd0;
    reg [3:0]  commit_slot = 4'd0;
    reg [31:0] commit_crc = 32'd0;
    reg [7:0]  commit_tag = 8'd0;
    reg [11:0] y_rows = 12'd0;
    reg [7:0]  y_tag = 8'd0;
    reg        y_format = 1'b0;

    assign status_byte = {3'b101, reset_flag, crc_err, err, done, work != W_NONE};
    assign busy_led = work != W_NONE;
    assign error_led = err;

    // ---- the frame being received
    reg        in_frame = 1'b0;
    reg [3:0]  count = 4'd0;         // bytes received, saturating: only the header's positions are ever compared
    reg [3:0]  header_left = 4'd0;   // header bytes still to come (known opcodes)
    reg [7:0]  op = 8'd0, tag = 8'd0;
    reg        known = 1'b0, responds = 1'b0, carries = 1'b0;
    reg        is_define = 1'b0, is_load_w = 1'b0, is_commit = 1'b0, is_load_x = 1'b0, is_run = 1'b0,
               is_info = 1'b0, is_get_err = 1'b0, is_clear = 1'b0, is_reset = 1'b0;
    reg [7:0]  a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0, a8 = 0;
    reg [15:0] header_crc = 16'hFFFF;
    reg [7:0]  crc_low = 8'd0;
    reg        header_in = 1'b0, header_good = 1'b0;
    reg        decide = 1'b0;        // the clock after a response command's header
    reg        header_done = 1'b0;   // the clock after a payload command's header
    reg        streaming = 1'b0;
    reg [15:0] payload_index = 16'd0, payload_left = 16'd0;
    reg        payload_data = 1'b0;  // payload bytes (not its CRC) still to come
    reg [1:0]  payload_tail = 2'd0;  // payload CRC bytes received
    reg [15:0] payload_crc = 16'hFFFF;
    reg        payload_complete = 1'b0, payload_good = 1'b0;
    reg [16:0] write_address = 17'd0;

    // Header bytes after the opcode; 0 for NOP and unknown opcodes.
    function [3:0] header_rest;
        input [7:0] o;
        case (o)
            OP_INFO, OP_GET_ERR, OP_CLEAR_ERR: header_rest = 4'd3;
            OP_DEFINE: header_rest = 4'd12;
            OP_LOAD_W: header_rest = 4'd10;
            OP_COMMIT: header_rest = 4'd8;
            OP_LOAD_X: header_rest = 4'd6;
            OP_RUN, OP_READ_Y: header_rest = 4'd7;
            OP_SOFT_RESET: header_rest = 4'd5;
            default: header_rest = 4'd0;
        endcase
    endfunction
    // The opcode is decoded from its register in the clock after it arrived (a byte time before the next byte);
    // only a frame that ends right there needs op_known, the same decoding as a wire.
    reg  op_new = 1'b0;
    wire op_known = header_rest(op) != 4'd0;

    // ---- the addressed slot (argument 0 of DEFINE_SLOT, LOAD_W, COMMIT_W, RUN)
    wire [3:0]  slot = a0[3:0];
    wire        slot_in_range = a0 < 8'd16;
    wire        slot_defined = slot_in_range && defined[slot];
    wire        slot_valid = slot_in_range && valid[slot];
    wire [10:0] sel_base = slot_entry[10:0];
    wire [11:0] sel_units = slot_entry[22:11];
    wire [11:0] sel_rows = slot_entry[34:23];
    wire [3:0]  sel_blocks = slot_entry[38:35];

    // ---- field checks, computed ahead in registered stages
    // The arguments are complete two bytes (at least 64 clocks) before the header is, and the device state a
    // non-response command is checked against does not change inside its frame, so these free-running stages have
    // settled long before the header is in (streaming starts) or the frame ends (the command is decided). Nothing
    // here is a single clock's worth of logic any more.

    // DEFINE_SLOT's candidate: slot a0, base a1..a4, rows a5..a6, columns a7..a8.
    wire [31:0] def_base = {a4, a3, a2, a1};
    wire [15:0] def_rows = {a6, a5};
    wire [15:0] def_columns = {a8, a7};
    wire [10:0] def_base_units = def_base[16:6];
    reg         def_fields_bad = 1'b0, def_base_high = 1'b0, def_outside = 1'b0;
    reg  [3:0]  def_blocks = 4'd0;                      // padded columns / 256 where the columns are in range
    reg  [14:0] def_units_01 = 15'd0, def_units_23 = 15'd0, def_units = 15'd0;  // rows * blocks, in two steps
    reg  [15:0] def_top = 16'd0;                        // base / 64 + units
    wire [11:0] def_end = def_top[11:0];
    always @(posedge clk) begin
        def_blocks <= def_columns[11:8] + (def_columns[7:0] != 8'd0 ? 4'd1 : 4'd0);
        def_fields_bad <= !slot_in_range || def_rows == 16'd0 || def_rows > 16'd2048 || def_columns == 16'd0
                       || def_columns > 16'd2048 || def_base[5:0] != 6'd0;
        def_base_high <= def_base[31:17] != 15'd0;
        def_units_01 <= (def_blocks[0] ? {3'd0, def_rows[11:0]} : 15'd0) + (def_blocks[1] ? {2'd0, def_rows[11:0], 1'b0} : 15'd0);
        def_units_23 <= (def_blocks[2] ? {1'd0, def_rows[11:0], 2'b0} : 15'd0) + (def_blocks[3] ? {def_rows[11:0], 3'b0} : 15'd0);
        def_units <= def_units_01 + def_units_23;
        def_top <= {5'd0, def_base_units} + {1'b0, def_units};
        def_outside <= def_base_high || def_top > 16'd2048;
    end

    // Overlap with the other defined slots: scanned one slot per clock (read, sum, compare) while the header CRC
    // bytes arrive; it starts with the first of them, when def_end has long settled.
    reg [4:0]  scan = 5'd16;
    reg        scan_check = 1'b0;     // slot_entry holds the entry of scan_checked
    reg [3:0]  scan_checked = 4'd0;
    reg        other_check = 1'b0, other_defined = 1'b0;
    reg [10:0] other_base = 11'd0;
    reg [11:0] other_end = 12'd0;
    reg        overlap = 1'b0;
    always @(posedge clk) begin
        other_check <= scan_check;
        other_defined <= scan_checked != slot && defined[scan_checked];
        other_base <= sel_base;
        other_end <= {1'b0, sel_base} + sel_units;
    end
    wire scan_hit = other_check && other_defined && {1'b0, def_base_units} < other_end && {1'b0, other_base} < def_end;

    // LOAD_W: offset a1..a4, n a5..a6. LOAD_X: buffer a0, n a1..a2. RUN: slot a0, buffer a1, xtag a2, fmt a3.
    // READ_Y: first a0..a1, count a2..a3.
    wire [31:0] w_offset = {a4, a3, a2, a1};
    wire [15:0] w_count = {a6, a5};
    wire [15:0] x_count = {a2, a1};
    wire [7:0]  buffer_tag = a1[0] ? x_tag1 : x_tag0;
    wire [3:0]  buffer_blocks = a1[0] ? x_blocks1 : x_blocks0;
    wire [15:0] y_count = {a3, a2};
    reg         w_bad = 1'b0, w_high = 1'b0, w_beyond = 1'b0;
    reg  [17:0] w_end = 18'd0;
    reg  [16:0] w_start = 17'd0;                        // the first byte's address in the weight memory
    reg         x_bad = 1'b0, x_busy = 1'b0;
    reg         run_bad = 1'b0, run_not_valid = 1'b0, run_stale = 1'b0, run_shape = 1'b0;
    reg         reset_bad = 1'b0;
    reg  [15:0] payload_length = 16'd0;
    reg  [17:0] run_clocks = 18'd0, commit_clocks = 18'd0;  // work_left one clock after the accepting frame
    reg  [17:0] y_count3 = 18'd0;
    reg  [18:0] y_body3 = 19'd0;                        // READ_Y's m for int24 (for int32 it is {count, 2'b01})
    reg  [16:0] y_top = 17'd0;
    reg         y_range_bad = 1'b0, run_range_bad = 1'b0;
    always @(posedge clk) begin
        w_bad <= !slot_in_range || w_count == 16'd0;
        w_high <= w_offset[31:17] != 15'd0;
        w_end <= {1'b0, w_offset[16:0]} + {2'b0, w_count};
        w_beyond <= w_high || {1'b0, w_end} > {1'b0, sel_units, 6'd0};
        w_start <= {sel_base, 6'd0} + w_offset[16:0];
        x_bad <= a0 >= 8'd2 || x_count == 16'd0 || x_count > 16'd2048 || x_count[7:0] != 8'd0;
        x_busy <= (work == W_RUN && run_buffer == a0[0]) || work == W_COMMIT;
        run_bad <= !slot_in_range || a1 >= 8'd2 || a3 >= 8'd2;
        run_not_valid <= !slot_defined || !slot_valid;
        run_stale <= a2 == 8'd0 || buffer_tag != a2;
        run_shape <= buffer_blocks != sel_blocks;  // int24 is exact for every K <= 2048
        reset_bad <= a0 != 8'hA5 || a1 != 8'h5A;
        payload_length <= is_load_w ? w_count : x_count;
        run_clocks <= {3'b000, sel_units, 3'b000} + OVERHEAD_CLOCKS - 18'd1;
        commit_clocks <= {sel_units, 6'b000000} + OVERHEAD_CLOCKS - 18'd1;
        y_count3 <= {1'b0, y_count, 1'b0} + {2'b0, y_count};
        y_body3 <= {1'b0, y_count3} + 19'd1;
        y_top <= {1'b0, a1, a0} + {1'b0, y_count};
        y_range_bad <= y_count == 16'd0 || y_top > {5'd0, y_rows};
        run_range_bad <= y_count == 16'd0 || y_top > {5'd0, run_rows};
    end

    // Field checks of a non-response command, in the emulator's order; E_NONE when it may proceed.
    reg [3:0] check = E_NONE;
    always @(posedge clk) begin
        check <= E_NONE;
        if (is_define) begin
            if (def_fields_bad) check <= E_BAD_FIELD;
            else if (def_outside || overlap) check <= E_BAD_REGION;
        end else if (is_load_w) begin
            if (w_bad) check <= E_BAD_FIELD;
            else if (!slot_defined) check <= E_SLOT_UNDEFINED;
            else if (w_beyond) check <= E_OUT_OF_RANGE;
        end else if (is_commit) begin
            if (!slot_in_range) check <= E_BAD_FIELD;
            else if (!slot_defined) check <= E_SLOT_UNDEFINED;
        end else if (is_load_x) begin
            if (x_bad) check <= E_BAD_FIELD;
            else if (x_busy) check <= E_BUSY;
        end else if (is_run) begin
            if (run_bad) check <= E_BAD_FIELD;
            else if (run_not_valid) check <= E_SLOT_NOT_VALID;
            else if (run_stale) check <= E_STALE_X;
            else if (run_shape) check <= E_SHAPE;
        end else if (is_reset) begin
            if (reset_bad) check <= E_BAD_FIELD;
        end
    end
    wire blocked = err && !(is_clear || is_reset);
    wire busy_for_op = work != W_NONE && !(is_clear || is_reset || is_load_x);
    wire may_stream = carries && header_good && !blocked && !busy_for_op && check == E_NONE;

    // The frame's outcome is decided in the clock CS rises (from the registered flags above) and takes effect in the
    // next one, before the clock that latches the next frame's status (docs/fpga-protocol.md §6).
    reg        outcome = 1'b0;         // the clock after a frame end: apply the outcome below
    reg        outcome_accept = 1'b0, outcome_last_tag = 1'b0;
    reg [3:0]  outcome_error = E_NONE;
    reg [7:0]  outcome_tag = 8'd0;
    wire       table_write = outcome && outcome_accept && is_define;
    always @(posedge clk) begin
        if (table_write)
            slot_table[slot] <= {def_blocks, def_rows[11:0], def_units[11:0], def_base_units};
        slot_entry <= slot_table[scan[4] ? slot : scan[3:0]];
        scan_check <= !scan[4];
        scan_checked <= scan[3:0];
    end

    // ---- memories and engines
    wire [63:0] weight_data;
    wire [13:0] engine_word;
    reg  [13:0] commit_word = 14'd0;
    wire        weight_write = byte_valid && streaming && is_load_w && payload_data;
    tmv_weight_ram weights (
        .clk(clk), .write_address(write_address), .write_data(rx_byte), .write_enable(weight_write),
        .read_word(work == W_COMMIT ? commit_word : engine_word), .read_data(weight_data)
    );

    wire [255:0] x_data;
    wire         engine_buffer;
    wire [5:0]   engine_x_word;
    tmv_x_ram activations (
        .clk(clk), .write_buffer(a0[0]), .write_index(payload_index[10:0]), .write_data(rx_byte),
        .write_enable(byte_valid && streaming && is_load_x && payload_data),
        .read_buffer(engine_buffer), .read_word(engine_x_word), .read_data(x_data)
    );

    reg         engine_start = 1'b0, engine_abort = 1'b0;
    reg  [13:0] engine_first = 14'd0;
    reg  [11:0] engine_rows = 12'd1;
    reg  [3:0]  engine_blocks = 4'd1;
    reg  [11:0] engine_units = 12'd1;
    wire        y_write;
    wire [10:0] y_write_row;
    wire [19:0] y_write_value;
    tmv_engine engine (
        .clk(clk), .start(engine_start), .abort(engine_abort), .first_word(engine_first), .rows(engine_rows),
        .blocks(engine_blocks), .buffer(run_buffer), .weight_word(engine_word), .weight_data(weight_data),
        .x_buffer(engine_buffer), .x_word(engine_x_word), .x_data(x_data),
        .y_write(y_write), .y_row(y_write_row), .y_value(y_write_value)
    );

    reg  [10:0] y_read_row = 11'd0;
    wire [19:0] y_read_value;
    tmv_y_ram results (
        .clk(clk), .write_enable(y_write), .write_row(y_write_row), .write_value(y_write_value),
        .read_row(y_read_row), .read_value(y_read_value)
    );

    // COMMIT_W: a byte-wide CRC-32 over the slot, one byte per clock; the next word is fetched meanwhile.
    reg         crc_start = 1'b0;
    reg  [1:0]  crc_phase = 2'd0;   // 0 idle, 1 first fetch, 2 load, 3 bytes
    reg  [14:0] crc_words_left = 15'd0;
    reg  [2:0]  crc_byte = 3'd0;
    reg  [63:0] crc_data = 64'd0;
    reg  [31:0] crc_value = 32'hFFFFFFFF;
    reg         crc_match = 1'b0;  // registered: the CRC is complete more than ten clocks before the work ends
    always @(posedge clk) begin
        crc_match <= ~crc_value == commit_crc;
        if (engine_abort) begin
            crc_phase <= 2'd0;
        end else if (crc_start) begin
            commit_word <= engine_first;
            crc_words_left <= {engine_units, 3'b000};  // 8 words per 64 bytes
            crc_value <= 32'hFFFFFFFF;
            crc_phase <= 2'd1;
        end else if (crc_phase == 2'd1) begin
            commit_word <= commit_word + 14'd1;
            crc_phase <= 2'd2;
        end else if (crc_phase == 2'd2) begin
            crc_data <= weight_data;
            crc_byte <= 3'd0;
            crc_phase <= 2'd3;
        end else if (crc_phase == 2'd3) begin
            crc_value <= crc32_byte(crc_value, crc_data[8 * crc_byte +: 8]);
            crc_byte <= crc_byte + 3'd1;
            if (crc_byte == 3'd7) begin
                crc_data <= weight_data;
                commit_word <= commit_word + 14'd1;
                crc_words_left <= crc_words_left - 15'd1;
                if (crc_words_left == 15'd1)
                    crc_phase <= 2'd0;
            end
        end
    end

    // ---- responses: CODE, TAG, body[m], RCRC, prepared one byte ahead of the wire
    localparam [2:0] P_CODE = 3'd0, P_TAG = 3'd1, P_BODY = 3'd2, P_CRC_LOW = 3'd3, P_CRC_HIGH = 3'd4, P_END = 3'd5;
    reg        respond = 1'b0;
    reg [1:0]  response_code = R_OK;
    reg [18:0] response_body = 19'd0;  // m
    reg [2:0]  response_part = P_END;  // what the next prepared byte is
    reg [18:0] body_left = 19'd0;      // body bytes still to prepare
    reg [4:0]  body_at = 5'd0;         // index of the next body byte (INFO and GET_ERR)
    reg        body_first = 1'b0;      // the next body byte is READ_Y's TAG
    reg [1:0]  bytes_after = 2'd0;     // bytes received since RCRC was prepared: the frame was long enough at 2
    reg [15:0] response_crc = 16'hFFFF;
    reg [1:0]  value_byte = 2'd0;
    reg        prepare = 1'b0, prepare_now = 1'b0;

    function [7:0] info_byte;
        input [4:0] i;
        case (i)
            5'd0: info_byte = 8'h54; 5'd1: info_byte = 8'h4D; 5'd2: info_byte = 8'h56; 5'd3: info_byte = 8'h31;
            5'd4: info_byte = 8'd1;    // protocol version
            5'd5: info_byte = 8'd32;   // LANES
            5'd6: info_byte = 8'd16;   // N_SLOTS
            5'd7: info_byte = 8'd2;    // N_XBUF
            5'd9: info_byte = 8'h08;   // MAX_COLS 2048
            5'd11: info_byte = 8'h08;  // MAX_ROWS 2048
            5'd14: info_byte = 8'h02;  // WEIGHT_BYTES 131072
            5'd16: info_byte = FABRIC_KHZ[7:0]; 5'd17: info_byte = FABRIC_KHZ[15:8];
            5'd18: info_byte = FABRIC_KHZ[23:16]; 5'd19: info_byte = FABRIC_KHZ[31:24];
            5'd20: info_byte = OVERHEAD;
            5'd22: info_byte = 8'd3;   // int32 and int24
            5'd24: info_byte = SCLK_KHZ[7:0]; 5'd25: info_byte = SCLK_KHZ[15:8];
            5'd26: info_byte = SCLK_KHZ[23:16]; 5'd27: info_byte = SCLK_KHZ[31:24];
            5'd28: info_byte = BUILD_ID[7:0]; 5'd29: info_byte = BUILD_ID[15:8];
            5'd30: info_byte = BUILD_ID[23:16]; 5'd31: info_byte = BUILD_ID[31:24];
            default: info_byte = 8'd0;
        endcase
    endfunction

    // The next body byte, registered: its inputs settle a byte time before it is prepared.
    wire [31:0] y_wide = {{12{y_read_value[19]}}, y_read_value};
    reg  [7:0]  body_byte = 8'd0;
    always @(posedge clk) begin
        body_byte <= 8'd0;
        if (response_code == R_OK) begin
            if (is_info)
                body_byte <= info_byte(body_at);
            else if (is_get_err)
                case (body_at[3:0])
                    4'd0: body_byte <= {4'd0, err_code};
                    4'd1: body_byte <= err_op;
                    4'd2: body_byte <= err_tag;
                    4'd4: body_byte <= frames[7:0];     4'd5: body_byte <= frames[15:8];
                    4'd6: body_byte <= frames[23:16];   4'd7: body_byte <= frames[31:24];
                    4'd8: body_byte <= crc_errors[7:0]; 4'd9: body_byte <= crc_errors[15:8];
                    4'd10: body_byte <= crc_errors[23:16]; 4'd11: body_byte <= crc_errors[31:24];
                    default: body_byte <= 8'd0;
                endcase
            else
                body_byte <= body_first ? y_tag : y_wide[8 * value_byte +: 8];
        end
    end

    // ---- per-clock state update, in the emulator's order of events
    reg        t_err, t_crc_err, t_reset, t_done;
    reg [7:0]  t_last_tag;
    reg [3:0]  t_code;
    reg [7:0]  t_op, t_tag;
    reg        t_crc_bump, t_clear_crc_errors;
    reg [15:0] t_valid;
    reg [1:0]  t_work;
    reg [11:0] t_y_rows;
    reg [7:0]  t_y_tag;
    reg        t_y_format;
    reg        t_respond;
    reg [1:0]  t_response_code;
    reg [18:0] t_response_body;
    reg        start_run, start_commit, soft_reset;
    reg        crc_bump = 1'b0;  // counted one clock later: keeps the 32-bit adder off the decision's path

    task reject;
        input [3:0] code;
        input [7:0] by_op;
        input [7:0] by_tag;
        begin
            if (code == E_HEADER_CRC || code == E_PAYLOAD_CRC) begin
                t_crc_err = 1'b1;
                t_crc_bump = 1'b1;
            end
            if (!t_err) begin
                t_err = 1'b1;
                t_code = code;
                t_op = by_op;
                t_tag = by_tag;
            end
        end
    endtask

    task finish_work;
        begin
            if (t_work == W_RUN) begin
                t_done = 1'b1;
                t_y_rows = run_rows;
                t_y_tag = run_tag;
                t_y_format = run_format;
            end else if (t_work == W_COMMIT) begin
                if (crc_match)
                    t_valid[commit_slot] = 1'b1;
                else
                    reject(E_WEIGHT_CRC, OP_COMMIT, commit_tag);
            end
            t_work = W_NONE;
        end
    endtask

    // work_left == 0 and work_left <= 1, kept as registers beside it: no comparator on the decisions' paths.
    reg work_over = 1'b1, work_ends = 1'b1;
    wire [7:0] frame_tag = count > 4'd1 ? tag : 8'd0;

    always @(posedge clk) begin
        t_err = err; t_crc_err = crc_err; t_reset = reset_flag; t_done = done; t_last_tag = last_tag;
        t_code = err_code; t_op = err_op; t_tag = err_tag; t_crc_bump = 1'b0; t_clear_crc_errors = 1'b0; t_valid = valid;
        t_work = work; t_y_rows = y_rows; t_y_tag = y_tag; t_y_format = y_format;
        t_respond = respond; t_response_code = response_code; t_response_body = response_body;
        start_run = 1'b0; start_commit = 1'b0; soft_reset = 1'b0;
        engine_start <= 1'b0;
        engine_abort <= 1'b0;
        crc_start <= 1'b0;
        load_status <= frame_start;
        decide <= 1'b0;
        header_done <= 1'b0;
        outcome <= 1'b0;

        if (frame_start) begin
            in_frame <= 1'b1;
            count <= 4'd0;
            op <= OP_NOP;
            known <= 1'b0; responds <= 1'b0; carries <= 1'b0;
            is_define <= 1'b0; is_load_w <= 1'b0; is_commit <= 1'b0; is_load_x <= 1'b0; is_run <= 1'b0;
            is_info <= 1'b0; is_get_err <= 1'b0; is_clear <= 1'b0; is_reset <= 1'b0;
            header_left <= 4'd0;
            header_crc <= 16'hFFFF;
            header_in <= 1'b0;
            header_good <= 1'b0;
            streaming <= 1'b0;
            payload_index <= 16'd0;
            payload_crc <= 16'hFFFF;
            payload_complete <= 1'b0;
            payload_good <= 1'b0;
            scan <= 5'd16;
            overlap <= 1'b0;
            t_respond = 1'b0;
            t_response_code = R_OK;
            t_response_body = 19'd0;
        end

        if (load_status)
            tx_next <= last_tag;  // S1

        if (op_new) begin
            op_new <= 1'b0;
            header_left <= header_rest(op);
            known <= header_rest(op) != 4'd0;
            responds <= op == OP_INFO || op == OP_GET_ERR || op == OP_READ_Y;
            carries <= op == OP_LOAD_W || op == OP_LOAD_X;
            is_define <= op == OP_DEFINE; is_load_w <= op == OP_LOAD_W; is_commit <= op == OP_COMMIT;
            is_load_x <= op == OP_LOAD_X; is_run <= op == OP_RUN; is_info <= op == OP_INFO;
            is_get_err <= op == OP_GET_ERR; is_clear <= op == OP_CLEAR_ERR; is_reset <= op == OP_SOFT_RESET;
        end

        // A byte arrived.
        if (byte_valid) begin
            if (count != 4'hF)
                count <= count + 4'd1;
            if (count == 4'd1)
                tag <= rx_byte;
            if (count == 4'd0) begin
                op <= rx_byte;
                op_new <= 1'b1;
                header_crc <= crc16_byte(16'hFFFF, rx_byte);
                frames <= frames + 32'd1;
            end else if (known && header_left != 4'd0) begin
                header_left <= header_left - 4'd1;
                case (count)
                    4'd2: a0 <= rx_byte; 4'd3: a1 <= rx_byte; 4'd4: a2 <= rx_byte; 4'd5: a3 <= rx_byte;
                    4'd6: a4 <= rx_byte; 4'd7: a5 <= rx_byte; 4'd8: a6 <= rx_byte; 4'd9: a7 <= rx_byte;
                    4'd10: a8 <= rx_byte;
                    default: ;
                endcase
                if (header_left > 4'd2)
                    header_crc <= crc16_byte(header_crc, rx_byte);
                if (header_left == 4'd2) begin
                    crc_low <= rx_byte;
                    // DEFINE_SLOT's arguments are in: scan the other slots for overlap.
                    if (is_define)
                        scan <= 5'd0;
                end
                if (header_left == 4'd1) begin
                    header_in <= 1'b1;
                    header_good <= header_crc == {rx_byte, crc_low};
                    decide <= responds;
                    header_done <= carries;
                end
            end else if (known && carries && streaming) begin
                payload_index <= payload_index + 16'd1;
                if (payload_data) begin
                    payload_crc <= crc16_byte(payload_crc, rx_byte);
                    write_address <= write_address + 17'd1;
                    payload_left <= payload_left - 16'd1;
                    payload_data <= payload_left != 16'd1;
                end else if (payload_tail == 2'd0) begin
                    crc_low <= rx_byte;
                    payload_tail <= 2'd1;
                end else if (payload_tail == 2'd1) begin
                    payload_complete <= 1'b1;
                    payload_good <= payload_crc == {rx_byte, crc_low};
                    payload_tail <= 2'd2;
                end
            end
            if (response_part == P_END && bytes_after != 2'd2)
                bytes_after <= bytes_after + 2'd1;
            prepare <= 1'b1;
        end

        if (!scan[4])
            scan <= scan + 5'd1;
        if (scan_hit)
            overlap <= 1'b1;

        // The header of a payload command is in: start writing (the slot or buffer is invalid from now on).
        if (header_done && may_stream && !streaming) begin
            streaming <= 1'b1;
            payload_left <= payload_length;
            payload_data <= 1'b1;  // the field checks passed: the length is not 0
            payload_tail <= 2'd0;
            if (is_load_w) begin
                t_valid[slot] = 1'b0;
                write_address <= w_start;
            end else if (a0[0]) begin
                x_tag1 <= 8'd0;
            end else begin
                x_tag0 <= 8'd0;
            end
        end

        // The frame ended: decide its outcome from flags that are all registered by now.
        if (frame_end && in_frame) begin
            in_frame <= 1'b0;
            streaming <= 1'b0;
            outcome <= 1'b1;
            outcome_accept <= 1'b0;
            outcome_last_tag <= 1'b0;
            outcome_error <= E_NONE;
            outcome_tag <= tag;
            if (count != 4'd0) begin
                if (!op_known) begin
                    if (op != OP_NOP)
                        outcome_error <= E_UNKNOWN_OPCODE;
                    outcome_tag <= frame_tag;
                end else if (!header_in) begin
                    outcome_error <= E_SHORT_FRAME;
                    outcome_tag <= frame_tag;
                end else if (!header_good) begin
                    outcome_error <= E_HEADER_CRC;
                end else if (responds) begin
                    if (bytes_after != 2'd2 || decide)
                        outcome_error <= E_SHORT_FRAME;
                    else if (response_code == R_OK)
                        outcome_last_tag <= 1'b1;
                end else if (blocked) begin
                    // ignored while ERR is set
                end else if (busy_for_op) begin
                    outcome_error <= E_BUSY;
                end else if (check != E_NONE) begin
                    outcome_error <= check;
                end else if (carries && !payload_complete) begin
                    outcome_error <= E_SHORT_FRAME;
                end else if (carries && !payload_good) begin
                    outcome_error <= E_PAYLOAD_CRC;
                end else begin
                    outcome_accept <= 1'b1;
                end
            end
        end

        // At most one of these in a clock: the outcome is applied out of any frame, decide is inside one.
        if (outcome) begin
            // The frame's command takes effect (or is rejected), then work that had finished when it ended.
            if (outcome_error != E_NONE)
                reject(outcome_error, op, outcome_tag);
            if (outcome_last_tag || outcome_accept)
                t_last_tag = tag;
            if (outcome_accept) begin
                if (is_define) begin
                    t_valid[slot] = 1'b0;
                    defined[slot] <= 1'b1;  // the table entry is written by table_write
                end
                if (is_commit) begin
                    start_commit = 1'b1;
                    t_work = W_COMMIT;
                    commit_slot <= slot;
                    commit_crc <= {a4, a3, a2, a1};
                    commit_tag <= tag;
                end
                if (is_load_x) begin
                    if (a0[0]) begin x_tag1 <= tag; x_blocks1 <= x_count[11:8]; end
                    else begin x_tag0 <= tag; x_blocks0 <= x_count[11:8]; end
                end
                if (is_run) begin
                    start_run = 1'b1;
                    t_work = W_RUN;
                    t_done = 1'b0;
                    run_buffer <= a1[0];
                    run_format <= a3[0];
                    run_tag <= tag;
                    run_rows <= sel_rows;
                end
                if (is_clear) begin
                    t_err = 1'b0; t_crc_err = 1'b0; t_reset = 1'b0;
                    t_code = E_NONE; t_op = 8'd0; t_tag = 8'd0;
                end
                soft_reset = is_reset;
            end
            if (soft_reset) begin
                t_err = 1'b0; t_crc_err = 1'b0; t_done = 1'b0; t_reset = 1'b1; t_last_tag = 8'd0;
                t_code = E_NONE; t_op = 8'd0; t_tag = 8'd0; t_clear_crc_errors = 1'b1; t_valid = 16'd0;
                t_work = W_NONE; t_y_rows = 12'd0; t_y_tag = 8'd0; t_y_format = 1'b0;
                defined <= 16'd0;
                x_tag0 <= 8'd0; x_tag1 <= 8'd0; x_blocks0 <= 4'd0; x_blocks1 <= 4'd0;
                frames <= 32'd0;
                engine_abort <= 1'b1;
            end else if (!start_run && !start_commit && t_work != W_NONE && work_over) begin
                // work_left was at most 1 when the frame ended, one clock ago
                finish_work;
            end
        end else if (decide && header_good) begin
            // A response command's header is in: finished work takes effect, then the answer is decided.
            if (t_work != W_NONE && work_ends)
                finish_work;
            t_respond = 1'b1;
            if (is_info) begin
                t_response_code = R_OK; t_response_body = 19'd32;
            end else if (is_get_err) begin
                // The body reads the error registers live: nothing changes them before the frame ends.
                t_response_code = R_OK; t_response_body = 19'd12;
            end else begin
                // m = 1 + count * value size, in the format of the RUN that is running or produced the results.
                t_response_body = (work == W_RUN ? run_format : y_format) ? y_body3 : {1'b0, y_count, 2'b01};
                if (t_err) begin
                    t_response_code = R_REFUSED;
                end else if (t_work != W_NONE) begin
                    t_response_code = R_NOT_READY;
                end else if (!t_done) begin
                    t_response_code = R_REFUSED;
                    reject(E_NO_RESULT, OP_READ_Y, tag);
                end else if (work == W_RUN ? run_range_bad : y_range_bad) begin  // y_rows = run_rows if it just finished
                    t_response_code = R_REFUSED;
                    reject(E_OUT_OF_RANGE, OP_READ_Y, tag);
                end else begin
                    t_response_code = R_OK;
                end
                y_read_row <= {a1[2:0], a0};
                value_byte <= 2'd0;
            end
            response_part <= P_CODE;
            body_left <= t_response_body;
            body_at <= 5'd0;
            body_first <= 1'b1;
            bytes_after <= 2'd0;
            response_crc <= 16'hFFFF;
        end else if (!in_frame && t_work != W_NONE && work_over) begin
            // Between frames, finished work takes effect at once (also in the clock that latches the status).
            finish_work;
        end

        // Work counts fabric clocks from the end of the accepting frame (run_clocks and commit_clocks are one
        // less: they are loaded one clock after it).
        if (start_run) begin
            work_left <= run_clocks;  // at least OVERHEAD - 1
            work_over <= 1'b0;
            work_ends <= 1'b0;
            engine_first <= {sel_base, 3'b000};
            engine_rows <= sel_rows;
            engine_blocks <= sel_blocks;
            engine_start <= 1'b1;
        end else if (start_commit) begin
            work_left <= commit_clocks;
            work_over <= 1'b0;
            work_ends <= 1'b0;
            engine_first <= {sel_base, 3'b000};
            engine_rows <= sel_rows;
            engine_units <= sel_units;
            crc_start <= 1'b1;
        end else if (soft_reset) begin
            work_left <= 18'd0;
            work_over <= 1'b1;
            work_ends <= 1'b1;
        end else if (!work_over) begin
            work_left <= work_left - 18'd1;
            work_over <= work_ends;
            work_ends <= work_left == 18'd2 || work_ends;
        end

        // Prepare the MISO byte after the one on the wire (two clocks after a byte, once any decision is made).
        prepare_now <= prepare;
        if (prepare) prepare <= 1'b0;
        if (prepare_now) begin
            tx_next <= 8'd0;
            if (respond)
                case (response_part)
                    P_CODE: begin
                        tx_next <= {6'd0, response_code};
                        response_crc <= crc16_byte(response_crc, {6'd0, response_code});
                        response_part <= P_TAG;
                    end
                    P_TAG: begin
                        tx_next <= tag;
                        response_crc <= crc16_byte(response_crc, tag);
                        response_part <= P_BODY;
                    end
                    P_BODY: begin
                        tx_next <= body_byte;
                        response_crc <= crc16_byte(response_crc, body_byte);
                        body_at <= body_at + 5'd1;
                        body_first <= 1'b0;
                        body_left <= body_left - 19'd1;
                        if (body_left == 19'd1)
                            response_part <= P_CRC_LOW;
                        if (!is_info && !is_get_err && !body_first) begin
                            if (value_byte == (y_format ? 2'd2 : 2'd3)) begin
                                value_byte <= 2'd0;
                                y_read_row <= y_read_row + 11'd1;
                            end else begin
                                value_byte <= value_byte + 2'd1;
                            end
                        end
                    end
                    P_CRC_LOW: begin
                        tx_next <= response_crc[7:0];
                        response_part <= P_CRC_HIGH;
                    end
                    P_CRC_HIGH: begin
                        tx_next <= response_crc[15:8];
                        response_part <= P_END;
                    end
                    default: ;
                endcase
        end

        err <= t_err; crc_err <= t_crc_err; reset_flag <= t_reset; done <= t_done; last_tag <= t_last_tag;
        err_code <= t_code; err_op <= t_op; err_tag <= t_tag; valid <= t_valid;
        crc_bump <= t_crc_bump;
        crc_errors <= t_clear_crc_errors ? 32'd0 : crc_errors + {31'd0, crc_bump};
        work <= t_work; y_rows <= t_y_rows; y_tag <= t_y_tag; y_format <= t_y_format;
        respond <= t_respond; response_code <= t_response_code; response_body <= t_response_body;
    end

endmodule

`default_nettype wire
