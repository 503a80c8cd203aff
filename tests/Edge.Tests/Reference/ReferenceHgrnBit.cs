using Edge.Format.Container;
using Edge.Format.Numerics;

namespace Edge.Tests.Reference;

/// <summary>
/// An independent, deliberately plain float64 forward pass of HGRN-Bit, written straight from the official
/// implementation's forward pass and BitLinear rules (docs/forward-pass.md), with no code shared with the runtime
/// except the one weight rule (<see cref="TernaryQuantizer"/>): the runtime's fp32 integer pipeline must agree with it
/// within tolerance.
/// </summary>
public sealed class ReferenceHgrnBit
{
    readonly HgrnBitConfig _c;
    readonly Func<string, float[]> _weight;
    readonly Dictionary<string, (sbyte[] T, double Scale)> _ternary = [];
    readonly double[][] _lowerBounds;
    readonly double[][] _state;

    /// <param name="weight">The latent (bf16-representable) weights by checkpoint name, row-major [out, in].</param>
    public ReferenceHgrnBit(HgrnBitConfig config, Func<string, float[]> weight)
    {
        _c = config;
        _weight = weight;
        int l = config.NumHiddenLayers, h = config.HiddenSize;
        _lowerBounds = new double[l][];
        var raw = config.UseLowerBound ? weight("model.lower_bounds") : new float[l * h];
        for (int n = 0; n < l; n++)
            _lowerBounds[n] = new double[h];
        for (int ch = 0; ch < h; ch++)
        {
            var p = Enumerable.Range(0, l).Select(n => Math.Exp(raw[n * h + ch])).ToArray();
            double z = p.Sum(), cumulative = 0;
            for (int n = 0; n < l; n++)
            {
                cumulative += p[n] / z;
                _lowerBounds[n][ch] = config.UseLowerBound ? cumulative - p[0] / z : 0;
            }
        }
        _state = Enumerable.Range(0, l).Select(_ => new double[h]).ToArray();
    }

    /// <summary>Runs one token and returns its logits; the recurrent state carries over to the next call.</summary>
    public double[] Step(int token)
    {
        int h = _c.HiddenSize;
        var emb = _weight("model.embeddings.weight");
        // The file stores embeddings as fp16; the reference reads the same rounded values.
        var x = Enumerable.Range(0, h).Select(c => (double)(float)(Half)emb[token * h + c]).ToArray();
        for (int l = 0; l < _c.NumHiddenLayers; l++)
        {
            string p = $"model.layers.{l}.";
            var xn = RmsNorm(x, _weight(p + "attn_norm.weight"), _c.RmsNormEps);
            var i = BitLinear(p + "attn.i_proj", xn);
            var f = BitLinear(p + "attn.f_proj", xn);
            var g = BitLinear(p + "attn.g_proj", xn);
            var hState = _state[l];
            for (int c = 0; c < h; c++)
            {
                double forget = Sigmoid(f[c]);
                if (l > 0)
                    forget = _lowerBounds[l][c] + (1 - _lowerBounds[l][c]) * forget;
                hState[c] = forget * hState[c] + Silu(i[c]) * (1 - forget);
            }
            var gn = RmsNorm(g, _weight(p + "attn.g_norm.weight"), _c.RmsNormEps);
            var o = Enumerable.Range(0, h).Select(c => gn[c] * Silu(hState[c])).ToArray();
            var a = BitLinear(p + "attn.o_proj", o);
            var s = x.Zip(a, (u, v) => u + v).ToArray();
            var n = RmsNorm(s, _weight(p + "mlp_norm.weight"), _c.RmsNormEps);
            var gu = BitLinear(p + "mlp.gate_proj", n);
            int inter = _c.IntermediateSize;
            var m = Enumerable.Range(0, inter).Select(c => Silu(gu[c]) * gu[inter + c]).ToArray();
            var d = BitLinear(p + "mlp.down_proj", m);
            x = s.Zip(d, (u, v) => u + v).ToArray();
        }
        return BitLinear("lm_head", RmsNorm(x, _weight("model.norm.weight"), _c.RmsNormEps));
    }

    double[] BitLinear(string prefix, double[] input)
    {
        var (t, beta) = Ternary(prefix + ".weight", input.Length);
        var y = RmsNorm(input, _weight(prefix + ".norm.weight"), 1e-6);
        double absMax = Math.Max(y.Max(Math.Abs), 1e-5);
        double sx = 127 / absMax;
        var q = y.Select(v => Math.Clamp(Math.Round(v * sx, MidpointRounding.AwayFromZero), -128, 127)).ToArray();
        int rows = t.Length / input.Length, k = input.Length;
        var output = new double[rows];
        for (int r = 0; r < rows; r++)
        {
            double acc = 0;
            for (int j = 0; j < k; j++)
                acc += t[r * k + j] * q[j];
            output[r] = acc * beta / sx;
        }
        return output;
    }

    (sbyte[] T, double Scale) Ternary(string name, int k)
    {
        if (!_ternary.TryGetValue(name, out var entry))
        {
            var w = _weight(name);
            float scale = TernaryQuantizer.AbsMeanScale(w);
            var t = new sbyte[w.Length];
            TernaryQuantizer.Ternarize(w, scale, t);
            _ternary[name] = entry = (t, scale);
        }
        return entry;
    }

    static double[] RmsNorm(double[] x, float[] w, double eps)
    {
        double rstd = 1 / Math.Sqrt(x.Sum(v => v * v) / x.Length + eps);
        return x.Select((v, i) => v * rstd * w[i]).ToArray();
    }

    static double Sigmoid(double v) => 1 / (1 + Math.Exp(-v));

    static double Silu(double v) => v * Sigmoid(v);
}
