using System.Numerics;
using System.Numerics.Tensors;
using Edge.Format.Container;
using Edge.Format.Numerics;
using Edge.Runtime.Kernels;

namespace Edge.Runtime.Model;

/// <summary>
/// The HGRN-Bit forward pass (MatMul-free LM), as the official code computes it (docs/forward-pass.md):
/// <code>
/// h = embed(token)
/// for each layer:  a = o_proj( RMSNorm_g(g) ⊙ silu(state) )  with the MLGRU
///                      f = lb + (1-lb)·σ(f_proj(x)),  i = silu(i_proj(x))·(1-f),  state = f⊙state + i
///                  s = h + a;  h = s + down( silu(gate) ⊙ up )  with [gate, up] = gate_proj(RMSNorm(s))
/// logits = lm_head(RMSNorm(h))
/// </code>
/// where every projection is a BitLinear (own RMSNorm → int8 → ternary integer product → one rescale).
/// The i, f and g projections read the same input, so their three products go to the thread pool as one job.
/// Each product names what follows it (the next product's matrices and the norm weights read before it), which idle
/// workers read ahead while this thread does the element-wise work in between.
/// The element-wise work between products runs on the pool too, one token per chunk (the recurrence: one slice of
/// the hidden vector per chunk, its tokens in order), so a batch keeps every thread busy; one token runs inline.
/// Buffers are allocated once for a batch of up to <see cref="MaxBatch"/> tokens; a call allocates nothing.
/// A batch is either several tokens of one sequence (<see cref="Forward"/>, prefill) or one token of each of several
/// sequences (<see cref="ForwardSequences"/>, a server's decode step): the products are the same, only the
/// recurrence reads one state or one per row. <see cref="ForwardPositions"/> runs a batch of one sequence and keeps
/// every position's logits and state (to verify drafted tokens).
/// An instance is not thread-safe: one call runs at a time.
/// </summary>
internal sealed class HgrnBitModel
{
    readonly HgrnBitWeights _w;
    readonly TernaryExecutor _executor;
    readonly int _h, _i, _v;

    // Workspace, (B) = up to MaxBatch tokens of one call.
    readonly float[] _x;        // (B, H) residual stream
    readonly float[] _xn;       // (B, H) block-norm output, input of the projections
    readonly float[] _ig;       // (B, H) i projection, then the recurrence input
    readonly float[] _fg;       // (B, H) f projection, then the forget gate
    readonly float[] _gg;       // (B, H) g projection
    readonly float[] _o;        // (B, H) gated recurrence output, input of o_proj
    readonly float[] _a;        // (B, H) o_proj / down_proj output
    readonly float[] _gu;       // (B, 2I) gate_proj output: gate | up
    readonly float[] _m;        // (B, I) silu(gate)·up
    readonly float[][] _normed; // [thread] (max K) one row normalized before quantizing
    // One slot per product of a job (i, f, g); slot 0 also serves every other projection and the lm_head.
    readonly AlignedBuffer<sbyte>[] _q;   // [slot] (B, padded K) int8 activations; slot 0: max K, others: H
    readonly AlignedBuffer<int>[] _qSum;  // [slot] (B) Σq per row
    readonly float[][] _qScale;           // [slot] (B) activation scale sx per row
    readonly AlignedBuffer<int>[] _acc;   // [slot] (B, N) integer sums; slot 0: max(2I, H) rows, others: H
    readonly AlignedBuffer<int> _accLogits; // (V) integer sums of the lm_head for one token
    AlignedBuffer<int>? _accLogitsOfSequences; // (S, V) the same for S sequences; grows to the largest S asked for
    readonly TernaryProduct[] _job = new TernaryProduct[Slots];
    // What follows each product of layer l, for the executor's idle workers to read ahead (Lookahead).
    readonly Lookahead[] _afterMixer, _afterOProj, _afterGateProj, _afterDownProj;
    readonly Lookahead _afterLmHead;
    readonly float[] _last;     // (H) final-norm output of the last token
    readonly float[][] _oneMinusLowerBound; // (L, H) 1 - lb, for the forget gate

    // What the phases below work on, set by Block before it runs them; the delegates are made once.
    LayerWeights _layer = null!;
    float[]? _oneMinusLowerBoundOfLayer; // null for layer 0, whose forget gate is unbounded
    float[] _hidden = [];
    int _n;
    // Set by ForwardSequences: row b's recurrence reads and advances _rowStates[b] instead of _hidden.
    // Set by ForwardPositions: the recurrence advances _hidden and copies it into _rowStates[b] after token b.
    readonly RecurrentState[] _rowStates;
    bool _rowsAreSequences, _keepStates;
    int _layerIndex;
    readonly TernaryExecutor.RangeAction _mixerInput, _recurrence, _gatedOutput, _channelInput, _glu, _residual, _headInput;

    const int Slots = 3;

    /// <summary>
    /// A batch's recurrence runs in one slice of the hidden vector per thread, cut at a multiple of 16 floats (the
    /// widest vector), so every element takes the same vector path as in the whole vector: the result does not
    /// depend on the split. One token, or one thread, runs the whole vector at once.
    /// </summary>
    int RecurrenceGrain(int n) => n == 1 ? _h : Math.Max(16, _h / _executor.Threads / 16 * 16);

    public HgrnBitModel(HgrnBitWeights weights, TernaryExecutor executor, int maxBatch = 64)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBatch, 1);
        _w = weights;
        _executor = executor;
        MaxBatch = maxBatch;
        _h = weights.Config.HiddenSize;
        _i = weights.Config.IntermediateSize;
        _v = weights.Config.VocabSize;
        int kMax = Math.Max(_h, _i);
        int kPad = TernaryPacking.PaddedLength(kMax);
        _x = new float[maxBatch * _h];
        _xn = new float[maxBatch * _h];
        _ig = new float[maxBatch * _h];
        _fg = new float[maxBatch * _h];
        _gg = new float[maxBatch * _h];
        _o = new float[maxBatch * _h];
        _a = new float[maxBatch * _h];
        _gu = new float[maxBatch * 2 * _i];
        _m = new float[maxBatch * _i];
        _normed = new float[executor.Threads][];
        for (int t = 0; t < _normed.Length; t++)
            _normed[t] = new float[kMax];
        int hPad = TernaryPacking.PaddedLength(_h);
        _q = new AlignedBuffer<sbyte>[Slots];
        _qSum = new AlignedBuffer<int>[Slots];
        _qScale = new float[Slots][];
        _acc = new AlignedBuffer<int>[Slots];
        for (int slot = 0; slot < Slots; slot++)
        {
            _q[slot] = new AlignedBuffer<sbyte>(maxBatch * (slot == 0 ? kPad : hPad));
            _qSum[slot] = new AlignedBuffer<int>(maxBatch);
            _qScale[slot] = new float[maxBatch];
            _acc[slot] = new AlignedBuffer<int>(maxBatch * (slot == 0 ? Math.Max(2 * _i, _h) : _h));
        }
        _accLogits = new AlignedBuffer<int>(_v);
        _last = new float[_h];
        _mixerInput = MixerInput;
        _recurrence = Recurrence;
        _gatedOutput = GatedOutput;
        _channelInput = ChannelInput;
        _glu = Glu;
        _residual = Residual;
        _headInput = HeadInput;
        _rowStates = new RecurrentState[maxBatch];
        var layers = weights.Layers;
        _oneMinusLowerBound = new float[layers.Length][];
        for (int l = 0; l < layers.Length; l++)
        {
            _oneMinusLowerBound[l] = new float[_h];
            TensorPrimitives.Subtract(1f, layers[l].LowerBound, _oneMinusLowerBound[l]);
        }
        // The vectors each gap's element-wise work reads, in the order it reads them.
        _afterMixer = [.. layers.Select((l, i) => i == 0
            ? new Lookahead([l.OProj.Matrix], l.GNorm, l.OProj.Norm) // layer 0's forget gate has no lower bound
            : new Lookahead([l.OProj.Matrix], l.LowerBound, _oneMinusLowerBound[i], l.GNorm, l.OProj.Norm))];
        _afterOProj = [.. layers.Select(l => new Lookahead([l.GateProj.Matrix], l.MlpNorm, l.GateProj.Norm))];
        _afterGateProj = [.. layers.Select(l => new Lookahead([l.DownProj.Matrix], l.DownProj.Norm))];
        _afterDownProj = [.. layers.Select((l, i) => i + 1 < layers.Length ? MixerOf(layers[i + 1])
            : new Lookahead([weights.LmHead.Matrix], weights.FinalNorm, weights.LmHead.Norm))];
        _afterLmHead = MixerOf(layers[0]);
    }

    public HgrnBitConfig Config => _w.Config;

    public int MaxBatch { get; }

    public TernaryExecutor Executor => _executor;

    public HgrnBitWeights Weights => _w;

    /// <summary>Bytes of the workspace allocated for this model (excluding the mapped weights).</summary>
    public long WorkspaceBytes => WorkspaceBytesFor(_w.Config, MaxBatch, _executor.Threads);

    /// <summary>The workspace a model of this shape allocates, without building it (for <c>edge inspect</c>).</summary>
    public static long WorkspaceBytesFor(HgrnBitConfig c, int maxBatch, int threads)
    {
        long h = c.HiddenSize, i = c.IntermediateSize, v = c.VocabSize, b = maxBatch;
        long kMax = Math.Max(h, i), kPad = TernaryPacking.PaddedLength((int)kMax), hPad = TernaryPacking.PaddedLength((int)h);
        long floats = 7 * b * h + 2 * b * i + b * i + threads * kMax + Slots * b + h + c.NumHiddenLayers * h;
        long ints = Slots * b + b * Math.Max(2 * i, h) + (Slots - 1) * b * h + v;
        return 4 * floats + 4 * ints + b * kPad + (Slots - 1) * b * hPad;
    }

    public RecurrentState CreateState() => new(_w.Config.NumHiddenLayers, _h, _w.Fingerprint);

    /// <summary>
    /// Feeds tokens through the model, advancing <paramref name="state"/>, and writes the logits (V) of the last
    /// token. Long inputs run in batches of <see cref="MaxBatch"/>: each weight is read once per batch (prefill),
    /// and the result is identical to feeding the tokens one by one.
    /// </summary>
    public void Forward(ReadOnlySpan<int> tokens, RecurrentState state, Span<float> logits)
    {
        if (tokens.IsEmpty)
            throw new ArgumentException("No tokens to run.", nameof(tokens));
        if (logits.Length < _v)
            throw new ArgumentException($"Logits need room for {_v} values.", nameof(logits));
        for (int start = 0; start < tokens.Length; start += MaxBatch)
        {
            var chunk = tokens.Slice(start, Math.Min(MaxBatch, tokens.Length - start));
            RunBlocks(chunk, state);
        }
        int n = Math.Min(MaxBatch, (tokens.Length - 1) % MaxBatch + 1);
        Logits(_x.AsSpan((n - 1) * _h, _h), logits);
    }

    /// <summary>
    /// Like <see cref="Forward"/>, but calls <paramref name="onLogits"/> with the logits after every token
    /// (used to score text). The span is only valid during the call.
    /// </summary>
    public void ForwardAll(ReadOnlySpan<int> tokens, RecurrentState state, Span<float> logitsScratch, LogitsCallback onLogits)
    {
        for (int start = 0; start < tokens.Length; start += MaxBatch)
        {
            var chunk = tokens.Slice(start, Math.Min(MaxBatch, tokens.Length - start));
            RunBlocks(chunk, state);
            for (int b = 0; b < chunk.Length; b++)
            {
                Logits(_x.AsSpan(b * _h, _h), logitsScratch);
                onLogits(start + b, logitsScratch[.._v]);
            }
        }
    }

    /// <summary>
    /// One decode step of several independent sequences: token b advances <paramref name="states"/>[b], and the
    /// logits of sequence b go to row b of <paramref name="logits"/> (S, V). Each weight is read once for all of
    /// them, and every row is bit-identical to running its sequence alone through <see cref="Forward"/>.
    /// Up to <see cref="MaxBatch"/> sequences; the states must be distinct.
    /// </summary>
    public void ForwardSequences(ReadOnlySpan<int> tokens, ReadOnlySpan<RecurrentState> states, Span<float> logits)
    {
        int n = tokens.Length;
        if (n == 0)
            throw new ArgumentException("No tokens to run.", nameof(tokens));
        if (n > MaxBatch)
            throw new ArgumentException($"At most {MaxBatch} sequences run in one step; got {n}.", nameof(tokens));
        if (states.Length != n)
            throw new ArgumentException($"{n} tokens need {n} states; got {states.Length}.", nameof(states));
        if (logits.Length < (long)n * _v)
            throw new ArgumentException($"Logits need room for {n}×{_v} values.", nameof(logits));
        for (int b = 0; b < n; b++)
        {
            var s = states[b];
            if (s.Hidden.Length != _w.Layers.Length || s.Hidden[0].Length != _h)
                throw new ArgumentException($"State {b} belongs to a model of another shape.", nameof(states));
            for (int c = 0; c < b; c++)
                if (ReferenceEquals(states[c], s))
                    throw new ArgumentException($"States {c} and {b} are the same object; each sequence needs its own.", nameof(states));
            _rowStates[b] = s;
            Embed(tokens[b], _x.AsSpan(b * _h, _h));
        }
        _rowsAreSequences = true;
        try
        {
            for (int l = 0; l < _w.Layers.Length; l++)
                Block(l, n, []);
        }
        finally
        {
            _rowsAreSequences = false;
            Array.Clear(_rowStates, 0, n);
        }
        for (int b = 0; b < n; b++)
            states[b].Position++;
        LogitsOfRows(n, logits);
    }

    /// <summary>
    /// Runs up to <see cref="MaxBatch"/> tokens of one sequence as one batch, like <see cref="Forward"/>, but keeps
    /// what every position gives: the logits after token b go to row b of <paramref name="logits"/> (n, V), from one
    /// batched lm_head product, and the state after token b is copied into <paramref name="statesAfter"/>[b]. Every
    /// row and state is bit-identical to feeding the tokens one by one. Speculative decoding verifies drafted tokens
    /// with it and rolls back to the state after the last one it accepts.
    /// </summary>
    public void ForwardPositions(ReadOnlySpan<int> tokens, RecurrentState state, ReadOnlySpan<RecurrentState> statesAfter, Span<float> logits)
    {
        int n = tokens.Length;
        if (n == 0)
            throw new ArgumentException("No tokens to run.", nameof(tokens));
        if (n > MaxBatch)
            throw new ArgumentException($"At most {MaxBatch} tokens run in one batch; got {n}.", nameof(tokens));
        if (statesAfter.Length < n)
            throw new ArgumentException($"{n} tokens need {n} states to keep; got {statesAfter.Length}.", nameof(statesAfter));
        if (logits.Length < (long)n * _v)
            throw new ArgumentException($"Logits need room for {n}×{_v} values.", nameof(logits));
        for (int b = 0; b < n; b++)
        {
            var s = statesAfter[b];
            if (ReferenceEquals(s, state) || s.Hidden.Length != _w.Layers.Length || s.Hidden[0].Length != _h)
                throw new ArgumentException($"State {b} to keep is the running state or belongs to a model of another shape.", nameof(statesAfter));
            _rowStates[b] = s;
        }
        int start = state.Position;
        _keepStates = true;
        try
        {
            RunBlocks(tokens, state);
        }
        finally
        {
            _keepStates = false;
            Array.Clear(_rowStates, 0, n);
        }
        for (int b = 0; b < n; b++)
            statesAfter[b].Position = start + b + 1;
        LogitsOfRows(n, logits);
    }

    public delegate void LogitsCallback(int position, ReadOnlySpan<float> logits);

    void RunBlocks(ReadOnlySpan<int> tokens, RecurrentState state)
    {
        _w.File.ThrowIfChanged();
        int n = tokens.Length;
        for (int b = 0; b < n; b++)
            Embed(tokens[b], _x.AsSpan(b * _h, _h));
        for (int l = 0; l < _w.Layers.Length; l++)
            Block(l, n, state.Hidden[l]);
        state.Position += n;
    }

    unsafe void Embed(int token, Span<float> destination)
    {
        if ((uint)token >= (uint)_v)
            throw new ArgumentOutOfRangeException(nameof(token), $"Token id {token} is outside the vocabulary of {_v}.");
        var row = new ReadOnlySpan<Half>(_w.Embeddings + (long)token * _h, _h);
        TensorPrimitives.ConvertToSingle(row, destination);
    }

    void Block(int layer, int n, float[] hidden)
    {
        var w = _layer = _w.Layers[layer];
        _layerIndex = layer;
        _oneMinusLowerBoundOfLayer = layer > 0 ? _oneMinusLowerBound[layer] : null;
        _hidden = hidden;
        _n = n;

        // Token mixer (MLGRU): i, f, g all project the attn_norm output.
        SetUpProduct(0, w.IProj, n);
        SetUpProduct(1, w.FProj, n);
        SetUpProduct(2, w.GProj, n);
        _executor.For(n, 1, _mixerInput);
        _executor.MatMul(_job.AsSpan(0, 3), n, _afterMixer[layer]);
        _executor.For(_h, RecurrenceGrain(n), _recurrence);
        SetUpProduct(0, w.OProj, n);
        _executor.For(n, 1, _gatedOutput);
        _executor.MatMul(_job.AsSpan(0, 1), n, _afterOProj[layer]);

        // Channel mixer (GLU): one gate_proj gives [gate | up].
        SetUpProduct(0, w.GateProj, n);
        _executor.For(n, 1, _channelInput);
        _executor.MatMul(_job.AsSpan(0, 1), n, _afterGateProj[layer]);
        SetUpProduct(0, w.DownProj, n);
        _executor.For(n, 1, _glu);
        _executor.MatMul(_job.AsSpan(0, 1), n, _afterDownProj[layer]);
        _executor.For(n, 1, _residual);
    }

    // The phases of a block. Each works on whole tokens [first, end), except the recurrence, which runs the batch's
    // tokens in order over a slice of the hidden vector. A token's row is computed exactly as when it runs alone.

    /// <summary>xn = RMSNorm(x), quantized for i, f and g.</summary>
    void MixerInput(int first, int end, int thread)
    {
        int h = _h;
        for (int b = first; b < end; b++)
        {
            ActivationQuantizer.RmsNorm(_x.AsSpan(b * h, h), _layer.AttnNorm, _w.Config.RmsNormEps, _xn.AsSpan(b * h, h));
            QuantizeRow(0, _layer.IProj, _xn, b, thread);
            QuantizeRow(1, _layer.FProj, _xn, b, thread);
            QuantizeRow(2, _layer.GProj, _xn, b, thread);
        }
    }

    /// <summary>
    /// Over hidden elements [first, end), token after token: f = lb + (1-lb)·σ(f), i = silu(i)·(1-f),
    /// state = f·state + i, and silu(state) left in i for the output gate.
    /// </summary>
    void Recurrence(int first, int end, int thread)
    {
        int h = _h, count = end - first;
        var lowerBound = _layer.LowerBound.AsSpan(first, count);
        for (int b = 0; b < _n; b++)
        {
            var hidden = (_rowsAreSequences ? _rowStates[b].Hidden[_layerIndex] : _hidden).AsSpan(first, count);
            var i = _ig.AsSpan(b * h + first, count);
            var f = _fg.AsSpan(b * h + first, count);
            var scratch = _o.AsSpan(b * h + first, count);
            RescaleRow(0, _layer.IProj, b, first, count, _ig);
            RescaleRow(1, _layer.FProj, b, first, count, _fg);
            RescaleRow(2, _layer.GProj, b, first, count, _gg);
            Activations.Sigmoid(f, f);
            if (_oneMinusLowerBoundOfLayer is { } oneMinusLowerBound)
                TensorPrimitives.MultiplyAdd(f, oneMinusLowerBound.AsSpan(first, count), lowerBound, f); // lb + (1-lb)·σ(f)
            Activations.Silu(i, i);
            TensorPrimitives.Subtract(1f, f, scratch);
            TensorPrimitives.Multiply(i, scratch, i);           // silu(i)·(1-f)
            TensorPrimitives.MultiplyAdd(f, hidden, i, hidden); // f·h + i
            if (_keepStates)
                hidden.CopyTo(_rowStates[b].Hidden[_layerIndex].AsSpan(first, count));
            Activations.Silu(hidden, i);
        }
    }
    /// <summary>o = RMSNorm(g)·silu(state): the code normalizes the gate projection and swishes the recurrence; quantized for o_proj.</summary>
    void GatedOutput(int first, int end, int thread)
    {
        int h = _h;
        for (int b = first; b < end; b++)
        {
            var o = _o.AsSpan(b * h, h);
            ActivationQuantizer.RmsNorm(_gg.AsSpan(b * h, h), _layer.GNorm, _w.Config.RmsNormEps, o);
            TensorPrimitives.Multiply(o, _ig.AsSpan(b * h, h), o);
            QuantizeRow(0, _layer.OProj, _o, b, thread);
        }
    }

    /// <summary>x += o_proj(o); xn = RMSNorm(x), quantized for gate_proj.</summary>
    void ChannelInput(int first, int end, int thread)
    {
        int h = _h;
        for (int b = first; b < end; b++)
        {
            AddProjection(_layer.OProj, b);
            ActivationQuantizer.RmsNorm(_x.AsSpan(b * h, h), _layer.MlpNorm, _w.Config.RmsNormEps, _xn.AsSpan(b * h, h));
            QuantizeRow(0, _layer.GateProj, _xn, b, thread);
        }
    }

    /// <summary>m = silu(gate)·up, quantized for down_proj.</summary>
    void Glu(int first, int end, int thread)
    {
        for (int b = first; b < end; b++)
        {
            RescaleRow(0, _layer.GateProj, b, 0, 2 * _i, _gu);
            var gate = _gu.AsSpan(b * 2 * _i, _i);
            var up = _gu.AsSpan(b * 2 * _i + _i, _i);
            var m = _m.AsSpan(b * _i, _i);
            Activations.Silu(gate, m);
            TensorPrimitives.Multiply(m, up, m);
            QuantizeRow(0, _layer.DownProj, _m, b, thread);
        }
    }

    /// <summary>x += down_proj(m).</summary>
    void Residual(int first, int end, int thread)
    {
        for (int b = first; b < end; b++)
            AddProjection(_layer.DownProj, b);
    }

    /// <summary>x[b] += the slot-0 product of <paramref name="layer"/> for token b, rescaled.</summary>
    void AddProjection(BitLinearWeights layer, int b)
    {
        int h = _h;
        RescaleRow(0, layer, b, 0, h, _a);
        TensorPrimitives.Add(_x.AsSpan(b * h, h), _a.AsSpan(b * h, h), _x.AsSpan(b * h, h));
    }

    unsafe void Logits(ReadOnlySpan<float> x, Span<float> logits)
    {
        ActivationQuantizer.RmsNorm(x, _w.FinalNorm, _w.Config.RmsNormEps, _last);
        var head = _w.LmHead;
        int kPad = head.Matrix.PaddedColumns;
        var q = _q[0].Span[..kPad];
        float scale = ActivationQuantizer.Quantize(_last, head.Norm, _normed[0], q);
        _qSum[0].Span[0] = Sum(q);
        _job[0] = new TernaryProduct(head.Matrix, _q[0].Pointer, _qSum[0].Pointer, _accLogits.Pointer);
        _executor.MatMul(_job.AsSpan(0, 1), 1, _afterLmHead);
        BitLinearRule.Rescale(_accLogits.Span, BitLinearRule.OutputFactor(head.Matrix.Scale, scale), logits[.._v]);
    }

    /// <summary>
    /// The lm_head of rows [0, n) of the residual stream as one batched product into (n, V) logits; each row is
    /// normalized, quantized and rescaled exactly as <see cref="Logits"/> does for one.
    /// </summary>
    unsafe void LogitsOfRows(int n, Span<float> logits)
    {
        var head = _w.LmHead;
        if (n * head.Matrix.PaddedColumns > _q[0].Length)
            throw new InvalidOperationException("The lm_head batch does not fit workspace slot 0.");
        if (_accLogitsOfSequences is not { } acc || acc.Length < n * _v)
            _accLogitsOfSequences = acc = new AlignedBuffer<int>(n * _v);
        _n = n;
        _executor.For(n, 1, _headInput);
        _job[0] = new TernaryProduct(head.Matrix, _q[0].Pointer, _qSum[0].Pointer, acc.Pointer);
        _executor.MatMul(_job.AsSpan(0, 1), n, _afterLmHead);
        for (int b = 0; b < n; b++)
            BitLinearRule.Rescale(acc.Span.Slice(b * _v, _v), BitLinearRule.OutputFactor(head.Matrix.Scale, _qScale[0][b]), logits.Slice(b * _v, _v));
    }

    /// <summary>xn = RMSNorm_final(x), quantized for the lm_head.</summary>
    void HeadInput(int first, int end, int thread)
    {
        int h = _h;
        for (int b = first; b < end; b++)
        {
            ActivationQuantizer.RmsNorm(_x.AsSpan(b * h, h), _w.FinalNorm, _w.Config.RmsNormEps, _xn.AsSpan(b * h, h));
            QuantizeRow(0, _w.LmHead, _xn, b, thread);
        }
    }

    /// <summary>Layer l's i, f and g products and what its mixer input reads first: the job after the previous layer or the lm_head.</summary>
    static Lookahead MixerOf(LayerWeights l) =>
        new([l.IProj.Matrix, l.FProj.Matrix, l.GProj.Matrix], l.AttnNorm, l.IProj.Norm, l.FProj.Norm, l.GProj.Norm);

    /// <summary>Points workspace slot <paramref name="slot"/>'s product at <paramref name="layer"/> for a batch of n.</summary>
    unsafe void SetUpProduct(int slot, BitLinearWeights layer, int n)
    {
        var m = layer.Matrix;
        if ((long)n * m.PaddedColumns > _q[slot].Length || (long)n * m.Rows > _acc[slot].Length)
            throw new InvalidOperationException($"A {m.Rows}×{m.Columns} projection does not fit workspace slot {slot}.");
        _job[slot] = new TernaryProduct(m, _q[slot].Pointer, _qSum[slot].Pointer, _acc[slot].Pointer);
    }

    /// <summary>Normalizes and quantizes row b of input (n, K) for <paramref name="layer"/> into its slot.</summary>
    void QuantizeRow(int slot, BitLinearWeights layer, float[] input, int b, int thread)
    {
        var m = layer.Matrix;
        int k = m.Columns, kPad = m.PaddedColumns;
        var row = _q[slot].Span.Slice(b * kPad, kPad);
        _qScale[slot][b] = ActivationQuantizer.Quantize(input.AsSpan(b * k, k), layer.Norm, _normed[thread], row);
        _qSum[slot].Span[b] = Sum(row);
    }

    /// <summary>output[b, first..first+count) = the slot's integer sums of token b rescaled by β / sx.</summary>
    void RescaleRow(int slot, BitLinearWeights layer, int b, int first, int count, float[] output)
    {
        var m = layer.Matrix;
        int offset = b * m.Rows + first;
        BitLinearRule.Rescale(_acc[slot].Span.Slice(offset, count), BitLinearRule.OutputFactor(m.Scale, _qScale[slot][b]), output.AsSpan(offset, count));
    }

    /// <summary>Σq, widened through int16 (two int8 values cannot overflow it) into int32 lanes.</summary>
    static int Sum(ReadOnlySpan<sbyte> q)
    {
        var acc = Vector<int>.Zero;
        int i = 0;
        for (; i + Vector<sbyte>.Count <= q.Length; i += Vector<sbyte>.Count)
        {
            Vector.Widen(new Vector<sbyte>(q[i..]), out var low, out var high);
            Vector.Widen(low + high, out var a, out var b);
            acc += a + b;
        }
        int s = Vector.Sum(acc);
        for (; i < q.Length; i++)
            s += q[i];
        return s;
    }
}
