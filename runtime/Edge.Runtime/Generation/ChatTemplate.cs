using System.Text;

namespace Edge.Runtime.Generation;

/// <summary>One message of a conversation. Roles are "system" (first turn only), "user" and "assistant".</summary>
public readonly record struct ChatTurn(string Role, string Content)
{
    public const string System = "system";
    public const string User = "user";
    public const string Assistant = "assistant";
}

/// <summary>
/// Turns a conversation into prompt text. A model file may carry its checkpoint's HuggingFace chat template
/// (metadata key <c>chat_template</c>, docs/format.md); those are Jinja programs, and Edge renders the families real
/// checkpoints use (ChatML, Llama 2, Llama 3, Mistral, Zephyr, Phi-3, Gemma) by recognising them, not by running
/// Jinja. Any other template, and a model without one (a base model such as the bundled one), gets the plain
/// <see cref="Default"/>. Every format is append-only: the text of a conversation is a prefix of the text of the
/// same conversation with more turns (from its first user turn on), so a chat's next turn only adds text to what the recurrent state has read.
/// </summary>
public sealed class ChatTemplate
{
    readonly Func<IReadOnlyList<ChatTurn>, bool, string> _render;

    ChatTemplate(string name, IReadOnlyList<string> stops, Func<IReadOnlyList<ChatTurn>, bool, string> render, string? warning = null)
    {
        Name = name;
        StopSequences = stops;
        _render = render;
        Warning = warning;
    }

    /// <summary>"default", or the recognised family: chatml, llama2, llama3, mistral, zephyr, phi3, gemma.</summary>
    public string Name { get; }

    /// <summary>Why a model's stored template was not used (it fell back to <see cref="Default"/>), else null.</summary>
    public string? Warning { get; }

    /// <summary>Strings that end an assistant reply in this format (besides the model's EOS token).</summary>
    public IReadOnlyList<string> StopSequences { get; }

    /// <summary>
    /// True when the format contains the tokenizer's special tokens (such as &lt;|im_start|&gt; or &lt;/s&gt;) as text,
    /// which must be encoded with <see cref="Tokenization.EdgeTokenizer.Encode(string, bool, bool)"/>'s special-token parsing.
    /// </summary>
    public bool UsesSpecialTokens => Name != "default";

    /// <summary>
    /// The plain format for base models: <c>System: …\nUser: …\nAssistant: …\n</c>, each content trimmed, the
    /// assistant prefix being <c>Assistant:</c> (the model writes the space). Replies stop at <c>\nUser:</c>.
    /// </summary>
    public static ChatTemplate Default { get; } = new("default", ["\nUser:"], RenderDefault);

    /// <summary>The model's stored template if Edge renders it, else <see cref="Default"/> (with a <see cref="Warning"/> when one was stored).</summary>
    public static ChatTemplate For(EdgeModel model)
    {
        var tokenizer = model.Tokenizer;
        return FromJinja(model.File.Metadata.ChatTemplate, tokenizer.TokenText(tokenizer.BosId), tokenizer.TokenText(tokenizer.EosId));
    }

    /// <summary>Recognises a HuggingFace (Jinja) chat template; null or empty gives <see cref="Default"/>.</summary>
    public static ChatTemplate FromJinja(string? source, string bosToken, string eosToken)
    {
        if (string.IsNullOrWhiteSpace(source))
            return Default;
        if (source.Contains("<|im_start|>", StringComparison.Ordinal))
            return new("chatml", ["<|im_end|>"], (t, p) => Tagged(t, p, r => $"<|im_start|>{r}\n", "<|im_end|>\n", "<|im_start|>assistant\n", trim: false));
        if (source.Contains("<|start_header_id|>", StringComparison.Ordinal))
            return new("llama3", ["<|eot_id|>"], (t, p) => Tagged(t, p, r => $"<|start_header_id|>{r}<|end_header_id|>\n\n", "<|eot_id|>", "<|start_header_id|>assistant<|end_header_id|>\n\n", trim: true));
        if (source.Contains("<start_of_turn>", StringComparison.Ordinal))
            return new("gemma", ["<end_of_turn>"], (t, p) => Tagged(MergeSystem(t), p, r => $"<start_of_turn>{(r == ChatTurn.Assistant ? "model" : r)}\n", "<end_of_turn>\n", "<start_of_turn>model\n", trim: true));
        if (source.Contains("<|user|>", StringComparison.Ordinal) && source.Contains("<|end|>", StringComparison.Ordinal))
            return new("phi3", ["<|end|>"], (t, p) => Tagged(t, p, r => $"<|{r}|>\n", "<|end|>\n", "<|assistant|>\n", trim: false));
        if (source.Contains("<|user|>", StringComparison.Ordinal))
            return new("zephyr", [], (t, p) => Tagged(t, p, r => $"<|{r}|>\n", eosToken + "\n", "<|assistant|>\n", trim: false));
        if (source.Contains("[INST]", StringComparison.Ordinal))
        {
            bool llama2 = source.Contains("<<SYS>>", StringComparison.Ordinal);
            return new(llama2 ? "llama2" : "mistral", [], (t, _) => RenderInst(t, bosToken, eosToken, llama2));
        }
        return new("default", Default.StopSequences, RenderDefault,
            "the model's chat template is not one Edge renders (it recognises ChatML, Llama 2, Llama 3, Mistral, Zephyr, Phi-3 and Gemma templates); using the plain System:/User:/Assistant: format");
    }

    /// <summary>
    /// The prompt text of a conversation. With <paramref name="addAssistantPrefix"/> it ends where the assistant's
    /// reply begins. The leading BOS token is left out: the tokenizer adds it when encoding a fresh prompt.
    /// </summary>
    /// <exception cref="ArgumentException">A role other than system, user or assistant, or a system turn after the first.</exception>
    public string Format(IReadOnlyList<ChatTurn> turns, bool addAssistantPrefix)
    {
        ArgumentNullException.ThrowIfNull(turns);
        for (int i = 0; i < turns.Count; i++)
        {
            string role = turns[i].Role;
            if (role is not (ChatTurn.System or ChatTurn.User or ChatTurn.Assistant))
                throw new ArgumentException($"Chat turn {i + 1} has role \"{role}\"; roles are system, user and assistant.", nameof(turns));
            if (role == ChatTurn.System && i > 0)
                throw new ArgumentException($"Chat turn {i + 1} is a system turn; only the first turn may be.", nameof(turns));
            ArgumentNullException.ThrowIfNull(turns[i].Content, nameof(turns));
        }
        return _render(turns, addAssistantPrefix);
    }

    static string RenderDefault(IReadOnlyList<ChatTurn> turns, bool addAssistantPrefix)
    {
        var text = new StringBuilder();
        foreach (var turn in turns)
        {
            string label = turn.Role switch { ChatTurn.System => "System", ChatTurn.User => "User", _ => "Assistant" };
            text.Append(label).Append(": ").Append(turn.Content.Trim()).Append('\n');
        }
        if (addAssistantPrefix)
            text.Append("Assistant:");
        return text.ToString();
    }

    /// <summary>Formats where each turn is a header, the content and an end marker (ChatML and its relatives).</summary>
    static string Tagged(IReadOnlyList<ChatTurn> turns, bool addAssistantPrefix, Func<string, string> header, string end, string assistantPrefix, bool trim)
    {
        var text = new StringBuilder();
        foreach (var turn in turns)
            text.Append(header(turn.Role)).Append(trim ? turn.Content.Trim() : turn.Content).Append(end);
        if (addAssistantPrefix)
            text.Append(assistantPrefix);
        return text.ToString();
    }

    /// <summary>Gemma has no system role; its templates put the system text at the start of the first user turn.</summary>
    static List<ChatTurn> MergeSystem(IReadOnlyList<ChatTurn> turns)
    {
        var merged = turns.ToList();
        if (merged.Count > 0 && merged[0].Role == ChatTurn.System)
        {
            string system = merged[0].Content.Trim();
            merged.RemoveAt(0);
            if (merged.Count > 0 && merged[0].Role == ChatTurn.User)
                merged[0] = merged[0] with { Content = system + "\n\n" + merged[0].Content.Trim() };
            else
                merged.Insert(0, new ChatTurn(ChatTurn.User, system));
        }
        return merged;
    }

    /// <summary>
    /// Llama 2 (<c>&lt;s&gt;[INST] &lt;&lt;SYS&gt;&gt;…&lt;&lt;/SYS&gt;&gt; user [/INST] reply &lt;/s&gt;</c>) and Mistral (the
    /// system text joins the first user message). Every exchange after the first starts with BOS, as the official
    /// templates write. The reply follows "[/INST]" directly, so there is no assistant prefix to add.
    /// </summary>
    static string RenderInst(IReadOnlyList<ChatTurn> turns, string bos, string eos, bool llama2)
    {
        var text = new StringBuilder();
        string? system = turns.Count > 0 && turns[0].Role == ChatTurn.System ? turns[0].Content.Trim() : null;
        bool first = true;
        foreach (var turn in turns)
        {
            if (turn.Role == ChatTurn.System)
                continue;
            if (turn.Role == ChatTurn.User)
            {
                string content = turn.Content.Trim();
                if (first && system is not null)
                    content = llama2 ? $"<<SYS>>\n{system}\n<</SYS>>\n\n{content}" : $"{system}\n\n{content}";
                if (!first)
                    text.Append(bos);
                text.Append("[INST] ").Append(content).Append(" [/INST]");
                first = false;
            }
            else
            {
                text.Append(' ').Append(turn.Content.Trim()).Append(' ').Append(eos);
            }
        }
        return text.ToString();
    }
}
