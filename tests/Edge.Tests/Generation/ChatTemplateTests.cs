using Edge.Runtime.Generation;

namespace Edge.Tests.Generation;

public class ChatTemplateTests
{
    static readonly ChatTurn[] Conversation =
    [
        new(ChatTurn.System, "Be brief."),
        new(ChatTurn.User, "Hi"),
        new(ChatTurn.Assistant, "Hello."),
        new(ChatTurn.User, "Why?"),
    ];

    [Fact]
    public void TheDefaultIsPlainLabelledLines()
    {
        Assert.Equal("System: Be brief.\nUser: Hi\nAssistant: Hello.\nUser: Why?\nAssistant:", ChatTemplate.Default.Format(Conversation, addAssistantPrefix: true));
        Assert.Equal("User: Hi\n", ChatTemplate.Default.Format([new(ChatTurn.User, "  Hi ")], addAssistantPrefix: false));
        Assert.Equal(["\nUser:"], ChatTemplate.Default.StopSequences);
        Assert.False(ChatTemplate.Default.UsesSpecialTokens);
    }

    public static TheoryData<string, string> Families => new()
    {
        { "{% for m in messages %}{{'<|im_start|>' + m['role'] + '\n' + m['content'] + '<|im_end|>' + '\n'}}{% endfor %}", "chatml" },
        { "{{ bos_token }}{% for m in messages %}{{ '<|start_header_id|>' + m['role'] + '<|end_header_id|>\n\n' + m['content'] | trim + '<|eot_id|>' }}{% endfor %}", "llama3" },
        { "{% if messages[0]['role'] == 'system' %}<<SYS>>{% endif %}{{ bos_token + '[INST] ' }}", "llama2" },
        { "{{ bos_token }}{% for m in messages %}[INST] {{ m['content'] }} [/INST]{% endfor %}", "mistral" },
        { "{% for m in messages %}<|user|>\n{{ m['content'] + eos_token }}{% endfor %}", "zephyr" },
        { "{% for m in messages %}<|user|>\n{{ m['content'] }}<|end|>\n{% endfor %}", "phi3" },
        { "{{ bos_token }}{% for m in messages %}<start_of_turn>{{ m['role'] }}\n{% endfor %}", "gemma" },
    };

    [Theory]
    [MemberData(nameof(Families))]
    public void RecognisesTheCommonFamilies(string source, string name)
    {
        var template = ChatTemplate.FromJinja(source, "<s>", "</s>");
        Assert.Equal(name, template.Name);
        Assert.Null(template.Warning);
        Assert.True(template.UsesSpecialTokens);
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void EveryFormatAppendsTurns(string source, string name)
    {
        var template = ChatTemplate.FromJinja(source, "<s>", "</s>");
        // From the first prompt a chat sends (system and first user turn) on; Gemma and Llama 2 fold the system text into that user turn.
        for (int n = 2; n < Conversation.Length; n++)
        {
            string shorter = template.Format(Conversation[..n], addAssistantPrefix: Conversation[n].Role == ChatTurn.Assistant);
            string longer = template.Format(Conversation[..(n + 1)], addAssistantPrefix: false);
            Assert.True(longer.StartsWith(shorter, StringComparison.Ordinal), $"{name}: \"{longer}\" does not start with \"{shorter}\"");
        }
    }

    [Fact]
    public void RendersChatMlAndLlama2AsTheirOfficialTemplatesDo()
    {
        var chatml = ChatTemplate.FromJinja("<|im_start|>", "<s>", "</s>");
        Assert.Equal(
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello.<|im_end|>\n<|im_start|>user\nWhy?<|im_end|>\n<|im_start|>assistant\n",
            chatml.Format(Conversation, addAssistantPrefix: true));
        var llama2 = ChatTemplate.FromJinja("[INST] <<SYS>>", "<s>", "</s>");
        Assert.Equal(
            "[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello. </s><s>[INST] Why? [/INST]",
            llama2.Format(Conversation, addAssistantPrefix: true));
    }

    [Fact]
    public void AnUnknownTemplateFallsBackToTheDefaultWithAWarning()
    {
        var template = ChatTemplate.FromJinja("{% for m in messages %}### {{ m.role }}: {{ m.content }}{% endfor %}", "<s>", "</s>");
        Assert.Equal("default", template.Name);
        Assert.Contains("not one Edge renders", template.Warning);
        Assert.Equal(ChatTemplate.Default.Format(Conversation, true), template.Format(Conversation, true));
        Assert.Same(ChatTemplate.Default, ChatTemplate.FromJinja(null, "<s>", "</s>"));
    }

    [Fact]
    public void BadRolesAreRefused()
    {
        Assert.Contains("role \"tool\"", Assert.Throws<ArgumentException>(() => ChatTemplate.Default.Format([new("tool", "x")], true)).Message);
        Assert.Contains("only the first turn", Assert.Throws<ArgumentException>(() => ChatTemplate.Default.Format([new(ChatTurn.User, "x"), new(ChatTurn.System, "y")], true)).Message);
    }
}
