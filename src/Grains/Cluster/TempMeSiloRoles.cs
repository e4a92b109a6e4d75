using Microsoft.Extensions.DependencyInjection;
using Orleans.Configuration;
using Orleans.Hosting;
using Orleans.Serialization;
using TempMe.Pipeline.Grains.Coordination;

namespace TempMe.Pipeline.Grains.Cluster;

/// <summary>
/// The two kinds of TempMe silo. Coordinator silos host every coordination grain; worker silos host none of them
/// (their grain class set leaves those out, so placement never picks a worker silo: role-based placement does not
/// work with ADO.NET clustering) and only run the shard pipeline, calling the grains.
/// </summary>
public static class TempMeSiloRoles
{
    /// <summary>The grain classes that only coordinator silos may host.</summary>
    internal static readonly Type[] CoordinatorGrainClasses = [typeof(CorpusJobGrain), typeof(ShardGrain), typeof(WorkQueueGrain), typeof(WorkerGrain)];

    /// <summary>
    /// Makes this silo a coordinator: it hosts the coordination grains (which need a
    /// <see cref="Ledger.Postgres.PostgresLedger"/> singleton in the services) and requeues the shards of silos the
    /// cluster declares dead.
    /// </summary>
    public static ISiloBuilder AddTempMeCoordinatorRole(this ISiloBuilder silo, Action<CoordinatorOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(silo);
        silo.Services.Configure(configure);
        silo.Services.AddHostedService<DeadSiloRequeuer>();
        // A job's reminder ticks every few seconds (the default floor is a minute).
        silo.Configure<ReminderOptions>(o => o.MinimumReminderPeriod = TimeSpan.FromSeconds(1));
        return silo.AddTempMeMessages();
    }

    /// <summary>Makes this silo a worker: it hosts no coordination grain.</summary>
    public static ISiloBuilder AddTempMeWorkerRole(this ISiloBuilder silo)
    {
        ArgumentNullException.ThrowIfNull(silo);
        silo.Configure<GrainTypeOptions>(o =>
        {
            // Our grains, and the Orleans dashboard's (the worker binary carries the coordinator's assemblies, but only
            // coordinators register the dashboard's services).
            o.Classes.RemoveWhere(IsCoordinatorOnly);
        });
        return silo.AddTempMeMessages();
    }

    /// <summary>
    /// The records grains exchange are plain records of the Contracts and Ledger assemblies, used far from Orleans
    /// (SQLite, the HTTP API), so they carry no Orleans attributes. The hot ones (<c>ShardLease</c>, <c>VideoResult</c>
    /// with its embedding) go in Orleans' binary format through pinned surrogates; the rest (<c>JobStatus</c>,
    /// <c>WorkerReport</c>...) as JSON, whose names are their property names: renaming one is a wire change.
    /// </summary>
    private static ISiloBuilder AddTempMeMessages(this ISiloBuilder silo)
    {
        silo.Services.AddSerializer(AddTempMeMessageCodecs);
        return silo;
    }

    /// <summary>The codecs every TempMe silo adds for the records grains exchange (see <c>AddTempMeMessages</c>).</summary>
    public static void AddTempMeMessageCodecs(ISerializerBuilder serializer)
    {
        ArgumentNullException.ThrowIfNull(serializer);
        serializer.AddAssembly(typeof(TempMeSiloRoles).Assembly);
        serializer.AddJsonSerializer(isSupported: IsMessageRecord);
    }

    /// <summary>Whether a grain class may be hosted by coordinator silos only.</summary>
    internal static bool IsCoordinatorOnly(Type grainClass) =>
        CoordinatorGrainClasses.Contains(grainClass) || grainClass.Assembly.GetName().Name == "Orleans.Dashboard";

    // The hot records (a shard, its results and their embeddings) have binary surrogates (MessageSurrogates.cs).
    private static readonly Type[] BinaryRecords =
        [typeof(Contracts.ShardLease), typeof(Contracts.ShardVideo), typeof(Contracts.VideoResult), typeof(Contracts.CachedEmbedding), typeof(Contracts.ShardCompletion)];

    private static bool IsMessageRecord(Type type) =>
        (type.Assembly == typeof(Contracts.ShardLease).Assembly || type.Assembly == typeof(Ledger.Postgres.PostgresLedger).Assembly)
            && !BinaryRecords.Contains(type);
}
