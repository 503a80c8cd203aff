using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Edge.Extensions.AI;

/// <summary>Registers an <see cref="EdgeChatClient"/> in a service collection (a Generic Host's, ASP.NET Core's).</summary>
public static class EdgeServiceCollectionExtensions
{
    /// <summary>
    /// Adds a singleton <see cref="EdgeChatClient"/> for the model file at <paramref name="modelPath"/>, also as
    /// <see cref="IChatClient"/>. The model loads when the client is first resolved and is disposed with the container.
    /// </summary>
    public static IServiceCollection AddEdgeChatClient(this IServiceCollection services, string modelPath, Action<EdgeChatClientOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentException.ThrowIfNullOrWhiteSpace(modelPath);
        services.TryAddSingleton(_ => EdgeChatClient.Load(modelPath, Configure(configure)));
        services.TryAddSingleton<IChatClient>(provider => provider.GetRequiredService<EdgeChatClient>());
        return services;
    }

    /// <summary>The same under <paramref name="serviceKey"/>, for a host that runs several models.</summary>
    public static IServiceCollection AddKeyedEdgeChatClient(this IServiceCollection services, object serviceKey, string modelPath, Action<EdgeChatClientOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(serviceKey);
        ArgumentException.ThrowIfNullOrWhiteSpace(modelPath);
        services.TryAddKeyedSingleton(serviceKey, (_, _) => EdgeChatClient.Load(modelPath, Configure(configure)));
        services.TryAddKeyedSingleton<IChatClient>(serviceKey, (provider, key) => provider.GetRequiredKeyedService<EdgeChatClient>(key));
        return services;
    }

    static EdgeChatClientOptions Configure(Action<EdgeChatClientOptions>? configure)
    {
        var options = new EdgeChatClientOptions();
        configure?.Invoke(options);
        return options;
    }
}
