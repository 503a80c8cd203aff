using System.CommandLine;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Edge.Runtime;
using Edge.Runtime.Generation;
using Edge.Runtime.Sampling;

namespace Edge.Cli.Commands;

/// <summary>
/// <c>edge chat</c>: a conversation at the terminal. The history lives in the recurrent state, so each turn reads
/// only its own text. Ctrl-C stops the reply, not the program; end of input (Ctrl-D) exits.
/// </summary>
static class ChatCommand
{
    const string Help = """
        /reset       forget the conversation (the system text stays)
        /save FILE   save the conversation and its state to FILE
        /load FILE   continue a conversation saved with /save (same model only)
        /help        this list
        /exit        leave (so does end of input, Ctrl-D)
        Ctrl-C stops a reply.
        """;

    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var common = new CommonOptions();
        var defaults = new SamplingOptions();
        var system = new Option<string?>("--system") { Description = "System text that starts the conversation" };
        var tokens = new Option<int>("--n-predict", "-n") { Description = "Tokens per reply at most", DefaultValueFactory = _ => 256 };
        var temp = new Option<float>("--temp") { Description = "Temperature; 0 is greedy", DefaultValueFactory = _ => defaults.Temperature };
        var seed = new Option<ulong?>("--seed", "-s") { Description = "Random seed (default: random)" };
        var timings = new Option<bool>("--timings") { Description = "After each reply, print to stderr how many tokens were read and generated, and how fast" };
        var command = new Command("chat", "Chat with a model at the terminal; the conversation is kept in the recurrent state");
        common.AddTo(command);
        foreach (var o in new Option[] { system, tokens, temp, seed, timings })
            command.Options.Add(o);

        // A synchronous action: System.CommandLine then leaves Ctrl-C to the chat, which stops only the reply.
        command.SetAction(parse => CliErrors.Guard(stderr, async () =>
        {
            int n = parse.GetValue(tokens);
            if (n <= 0)
                throw new ArgumentException($"--n-predict must be > 0 (got {n}).");
            var sampling = new SamplingOptions { Temperature = parse.GetValue(temp), Seed = parse.GetValue(seed) };
            sampling.Validate();
            using var model = common.Load(parse);
            var chat = new Chat(model, parse.GetValue(system), n, sampling, parse.GetValue(timings), stdout, stderr);
            return await chat.RunAsync(Console.In);
        }).GetAwaiter().GetResult());
        return command;
    }

    sealed class Chat(EdgeModel model, string? system, int maxTokens, SamplingOptions sampling, bool timings, TextWriter stdout, TextWriter stderr)
    {
        readonly Generator _generator = new(model);
        readonly ChatTemplate _template = ChatTemplate.For(model);
        readonly Session _session = new(model);
        readonly List<ChatTurn> _turns = [];

        /// <summary>The text the session has read, to find what a new turn adds to it.</summary>
        string _read = "";

        /// <summary>The last formatted conversation and the text of the reply's tokens, which the session read after it.</summary>
        string? _lastPrompt;
        string _lastReply = "";

        CancellationTokenSource? _reply;

        public async Task<int> RunAsync(TextReader input)
        {
            if (_template.Warning is { } warning)
                stderr.WriteLine($"edge: warning: {warning}");
            stderr.WriteLine($"edge chat: {Path.GetFileName(model.File.Path)}, {_template.Name} chat format. Type a message; /help lists commands, Ctrl-C stops a reply, Ctrl-D exits.");
            Reset();
            using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnInterrupt);
            while (true)
            {
                stdout.Write("> ");
                stdout.Flush();
                string? line = await input.ReadLineAsync();
                if (line is null)
                {
                    stdout.WriteLine();
                    return 0;
                }
                line = line.Trim();
                if (line.Length == 0)
                    continue;
                if (line.StartsWith('/'))
                {
                    if (!Command(line))
                        return 0;
                    continue;
                }
                await ReplyAsync(line);
            }
        }

        void OnInterrupt(PosixSignalContext context)
        {
            context.Cancel = true;
            if (Volatile.Read(ref _reply) is { } reply)
                reply.Cancel();
            else
                stderr.WriteLine("\n(Ctrl-C stops a reply; Ctrl-D or /exit leaves)");
        }

        async Task ReplyAsync(string message)
        {
            _turns.Add(new ChatTurn(ChatTurn.User, message));
            string prompt = _template.Format(_turns, addAssistantPrefix: true);
            string? added = Continuation(prompt);
            bool continues = added is not null;
            var request = new GenerationRequest
            {
                Prompt = added ?? prompt,
                AppendToSession = continues,
                MaxTokens = maxTokens,
                Sampling = sampling,
                Stop = _template.StopSequences,
                ParseSpecialTokens = _template.UsesSpecialTokens,
            };
            if (!continues)
                _session.Reset();
            using var reply = new CancellationTokenSource();
            Volatile.Write(ref _reply, reply);
            GenerationResult? result = null;
            try
            {
                await foreach (var piece in _generator.GenerateAsync(_session, request, reply.Token))
                {
                    stdout.Write(piece.Text);
                    stdout.Flush();
                    result = piece.Result ?? result;
                }
            }
            finally
            {
                Volatile.Write(ref _reply, null);
            }
            stdout.WriteLine();
            if (result!.FinishReason == FinishReason.Cancelled)
                stderr.WriteLine("(stopped)");
            if (timings)
            {
                var u = result.Usage;
                stderr.WriteLine(
                    $"(read {u.PrefilledTokens} new tokens of {u.PromptTokens} in {result.PrefillTime.TotalMilliseconds:F0} ms; " +
                    $"generated {u.CompletionTokens} in {result.DecodeTime.TotalMilliseconds:F0} ms, {(u.CompletionTokens > 0 ? u.CompletionTokens / result.DecodeTime.TotalSeconds : 0):F1} tokens/s; finish {GenerateCommand.FinishName(result.FinishReason)})");
            }
            _turns.Add(new ChatTurn(ChatTurn.Assistant, result.Text.Trim()));
            _lastPrompt = prompt;
            _lastReply = result.DecodedText;
            _read = (continues ? _read + added : prompt) + result.DecodedText;
        }

        /// <summary>
        /// The text to append to what the session has read so that it holds <paramref name="prompt"/>, or null to
        /// read the prompt afresh. The model's reply stands in for the formatted one, so only the text after the
        /// reply's content is added, less whatever the reply already wrote of it (a stop string such as "\nUser:").
        /// </summary>
        string? Continuation(string prompt)
        {
            if (_read.Length == 0)
                return null;
            if (prompt.StartsWith(_read, StringComparison.Ordinal))
                return prompt[_read.Length..];
            if (_lastPrompt is null || !prompt.StartsWith(_lastPrompt, StringComparison.Ordinal))
                return null;
            string rest = prompt[_lastPrompt.Length..];
            string content = _turns[^2].Content;
            int at = content.Length == 0 ? 0 : rest.IndexOf(content, StringComparison.Ordinal);
            if (at < 0)
                return null;
            string tail = rest[(at + content.Length)..];
            int overlap = Math.Min(tail.Length, _lastReply.Length);
            while (overlap > 0 && !_lastReply.AsSpan().EndsWith(tail.AsSpan(0, overlap), StringComparison.Ordinal))
                overlap--;
            return tail[overlap..];
        }

        /// <summary>Runs a slash command; false means leave.</summary>
        bool Command(string line)
        {
            int space = line.IndexOf(' ');
            string name = space < 0 ? line : line[..space];
            string argument = space < 0 ? "" : line[(space + 1)..].Trim();
            try
            {
                switch (name)
                {
                    case "/exit" or "/quit":
                        return false;
                    case "/help":
                        stderr.WriteLine(Help);
                        break;
                    case "/reset":
                        Reset();
                        stderr.WriteLine("(conversation reset)");
                        break;
                    case "/save" when argument.Length > 0:
                        Save(argument);
                        stderr.WriteLine($"(saved {_turns.Count} turns, {_session.Tokens.Count} tokens, to {argument})");
                        break;
                    case "/load" when argument.Length > 0:
                        Load(argument);
                        stderr.WriteLine($"(loaded {_turns.Count} turns, {_session.Tokens.Count} tokens, from {argument})");
                        break;
                    case "/save" or "/load":
                        stderr.WriteLine($"{name} needs a file name: {name} FILE");
                        break;
                    default:
                        stderr.WriteLine($"Unknown command {name}; /help lists the commands.");
                        break;
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException)
            {
                stderr.WriteLine($"edge: error: {e.Message}");
            }
            return true;
        }

        void Reset()
        {
            _session.Reset();
            _turns.Clear();
            _read = "";
            _lastPrompt = null;
            _lastReply = "";
            if (!string.IsNullOrWhiteSpace(system))
                _turns.Add(new ChatTurn(ChatTurn.System, system));
        }

        /// <summary>The saved session, then the turns and read text as JSON; written to a temporary file and renamed.</summary>
        void Save(string path)
        {
            string temporary = Path.GetFullPath(path) + $".{Environment.ProcessId}.tmp";
            try
            {
                using (var file = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None))
                {
                    _session.Save(file);
                    JsonSerializer.Serialize(file, new ChatTranscript(_read, _lastPrompt, _lastReply, [.. _turns]), CliJsonContext.Output.ChatTranscript);
                    file.Flush(flushToDisk: true);
                }
                File.Move(temporary, path, overwrite: true);
            }
            catch
            {
                File.Delete(temporary);
                throw;
            }
        }

        void Load(string path)
        {
            using var file = File.OpenRead(path);
            var session = new Session(model);
            try
            {
                session.Restore(file);
                using var rest = new MemoryStream();
                file.CopyTo(rest);
                var transcript = JsonSerializer.Deserialize(rest.ToArray(), CliJsonContext.Output.ChatTranscript);
                if (transcript is not { Read: not null, LastReply: not null, Turns: not null } || transcript.Turns.Any(t => t.Role is null || t.Content is null))
                    throw new JsonException("the conversation after the session is incomplete");
                var turns = transcript.Turns.ToList();
                _template.Format(turns, addAssistantPrefix: false);
                _session.Restore(session.Save());
                _turns.Clear();
                _turns.AddRange(turns);
                _read = transcript.Read;
                _lastPrompt = transcript.LastPrompt;
                _lastReply = transcript.LastReply;
            }
            catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or ArgumentException)
            {
                throw new InvalidDataException($"{path} is not a conversation saved by edge chat /save ({e.Message}).");
            }
            catch (InvalidDataException e)
            {
                throw new InvalidDataException($"{path}: {e.Message}", e);
            }
        }
    }
}
