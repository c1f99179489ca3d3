using System.Collections;

namespace MLNetClassify.Cli.Commands;

/// <summary>
/// One share of a sorted list of images: items Index, Index + Count, Index + 2·Count, ... — the contract of Slurm job
/// arrays and Kubernetes indexed Jobs (a task knows its index and the count). Interleaving keeps shards the same size
/// within one image and lets a merge put the results back in the list's order.
/// </summary>
internal readonly record struct Shard(int Index, int Count)
{
    /// <summary>The whole list.</summary>
    public static Shard All { get; } = new(0, 1);

    /// <summary>
    /// Parses "i/n" (0 ≤ i &lt; n), or takes the index and count from the scheduler's environment: "auto" reads Slurm's
    /// SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT; "auto/n" reads the index alone (SLURM_ARRAY_TASK_ID, else
    /// Kubernetes' JOB_COMPLETION_INDEX) and takes the count n from the command line, as a retried Slurm task or an
    /// indexed Job needs.
    /// </summary>
    /// <exception cref="FormatException">Anything else, naming the option, the value and the variables read.</exception>
    public static Shard Parse(string text, IDictionary environment)
    {
        if (text == "auto" || text.StartsWith("auto/", StringComparison.Ordinal))
            return FromEnvironment(text, environment);
        var parts = text.Split('/');
        if (parts.Length != 2 || !int.TryParse(parts[0], out int index) || !int.TryParse(parts[1], out int count) || count < 1 || index < 0 || index >= count)
            throw new FormatException($"--shard '{text}' must be i/n with 0 ≤ i < n (e.g. 0/4), auto (Slurm array) or auto/n.");
        return new Shard(index, count);
    }

    /// <summary>Parses against this process's environment.</summary>
    public static Shard Parse(string text) => Parse(text, Environment.GetEnvironmentVariables());

    private static Shard FromEnvironment(string text, IDictionary environment)
    {
        int? Read(string name)
        {
            if (environment[name] is not string value || value.Length == 0) return null;
            return int.TryParse(value, out int n) && n >= 0
                ? n
                : throw new FormatException($"--shard {text}: {name}='{value}' is not a whole number ≥ 0.");
        }

        int? slurmId = Read("SLURM_ARRAY_TASK_ID"), k8sIndex = Read("JOB_COMPLETION_INDEX");
        if (Read("SLURM_ARRAY_TASK_STEP") is { } step && step != 1)
            throw new FormatException($"--shard {text}: the Slurm array has step {step}; submit it as --array=0-(N-1) so that task ids are shard indices.");
        int index = slurmId ?? k8sIndex
            ?? throw new FormatException($"--shard {text} reads the task index from SLURM_ARRAY_TASK_ID (a Slurm array job) or JOB_COMPLETION_INDEX "
                + "(a Kubernetes indexed Job); neither is set. Give --shard i/n instead.");
        int count;
        if (text == "auto")
        {
            if (slurmId is null)
                throw new FormatException("--shard auto: Kubernetes gives the index (JOB_COMPLETION_INDEX) but not the count; give it as --shard auto/N (N = the Job's completions).");
            if (Read("SLURM_ARRAY_TASK_MIN") is { } min && min != 0)
                throw new FormatException($"--shard auto: this Slurm array starts at task {min}, so its task count is not the shard count; "
                    + "submit --array=0-(N-1), or give the count as --shard auto/N (as a retry of some tasks must).");
            count = Read("SLURM_ARRAY_TASK_COUNT") ?? throw new FormatException("--shard auto: SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not; give --shard auto/N.");
        }
        else if (!int.TryParse(text["auto/".Length..], out count) || count < 1)
            throw new FormatException($"--shard '{text}': the count after auto/ must be a whole number ≥ 1.");
        if (index >= count)
            throw new FormatException($"--shard {text}: task index {index} (from {(slurmId is null ? "JOB_COMPLETION_INDEX" : "SLURM_ARRAY_TASK_ID")}) is not below the count {count}.");
        return new Shard(index, count);
    }

    /// <summary>This shard's items of <paramref name="list"/>, in the list's order.</summary>
    public List<T> Of<T>(IReadOnlyList<T> list)
    {
        var (index, count) = (Index, Count);
        return list.Where((_, k) => k % count == index).ToList();
    }

    public override string ToString() => $"{Index}/{Count}";
}
