using System.Diagnostics;
using System.Threading.Channels;
using Microsoft.ML.OnnxRuntime;
using MLNetClassify.Backbones;
using MLNetClassify.Data;
using MLNetClassify.Images;

namespace MLNetClassify.Featurization;

/// <summary>The two strategies of <see cref="FeaturizerPlan"/>: per-core workers, and the decode-then-infer pipeline.</summary>
public sealed partial class ImageFeaturizer
{
    /// <summary>
    /// The CPU default: the plan's workers each take the next batch, decode it and run it through the
    /// single-threaded session (ONNX Runtime sessions take concurrent calls), so decoding and inference never compete
    /// for a core inside one call; docs/speed-and-memory.md has the measurement against one multi-threaded caller.
    /// </summary>
    private void RunWorkers(IReadOnlyList<ImageSource> images, IReadOnlyList<string?>? contentKeys, PixelReaders readers, float[] features, bool[] ok,
        List<SkippedImage> skipped, IProgress<FeaturizationProgress>? progress, Stopwatch clock, StageTimer stages, CancellationToken cancellationToken)
    {
        int size = _plan.ImagesPerCall;
        int batches = (images.Count + size - 1) / size;
        int next = -1, done = 0;
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        void Work()
        {
            var buffer = new float[size * _pixelsPerImage];
            using var runOptions = new RunOptions();
            try
            {
                for (int b = Interlocked.Increment(ref next); b < batches; b = Interlocked.Increment(ref next))
                {
                    cts.Token.ThrowIfCancellationRequested();
                    int start = b * size;
                    var batch = new Batch(start, Math.Min(size, images.Count - start), buffer);
                    long decoding = Stopwatch.GetTimestamp();
                    for (int slot = 0; slot < batch.Count; slot++)
                        Read(images, contentKeys, readers, batch, slot);
                    stages.Add(ref stages.Decode, decoding);
                    Run(batch, features, ok, Dimensions, runOptions, stages);
                    lock (skipped)
                    {
                        skipped.AddRange(batch.Skipped);
                        done += batch.Count;
                        progress?.Report(new FeaturizationProgress(done, images.Count, done / clock.Elapsed.TotalSeconds));
                    }
                }
            }
            catch
            {
                cts.Cancel(); // the other workers stop at their next batch
                throw;
            }
        }
        var threads = Enumerable.Range(0, Math.Min(_plan.Workers, batches)).Select(_ => Task.Factory.StartNew(Work, CancellationToken.None,
            TaskCreationOptions.LongRunning, TaskScheduler.Default)).ToArray();
        try
        {
            Task.WaitAll(threads);
        }
        catch (AggregateException e)
        {
            // The first real failure, not the cancellations it caused in the other workers (the caller's own cancellation included).
            var first = e.InnerExceptions.FirstOrDefault(x => x is not OperationCanceledException) ?? e.InnerExceptions[0];
            if (first is OperationCanceledException) cancellationToken.ThrowIfCancellationRequested();
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(first).Throw();
        }
    }

    /// <summary>Decodes image <paramref name="slot"/> of <paramref name="batch"/> into its place in the batch buffer, or records why not.</summary>
    private void Read(IReadOnlyList<ImageSource> images, IReadOnlyList<string?>? contentKeys, PixelReaders readers, Batch batch, int slot)
    {
        int index = batch.Start + slot;
        var pixels = batch.Buffer.AsSpan(slot * _pixelsPerImage, _pixelsPerImage);
        var error = readers.TryRead(images[index], pixels);
        if (error is not null)
        {
            lock (batch.Skipped) batch.Skipped.Add(new SkippedImage(index, images[index].Name, error));
            return;
        }
        var view = ViewOf(images[index], index, contentKeys?[index]);
        if (view != PlaneView.Identity)
        {
            var original = System.Buffers.ArrayPool<float>.Shared.Rent(pixels.Length);
            pixels.CopyTo(original);
            view.Apply(original.AsSpan(0, pixels.Length), pixels, _backbone.ResizeSize);
            System.Buffers.ArrayPool<float>.Shared.Return(original);
        }
        batch.Ok[slot] = true;
    }

    /// <summary>
    /// Decoding on all cores into pooled batch buffers, a bounded channel, and one session call per batch using every
    /// core: for CUDA, and on the CPU when thread counts are set.
    /// </summary>
    private void RunPipeline(IReadOnlyList<ImageSource> images, IReadOnlyList<string?>? contentKeys, PixelReaders readers, float[] features, bool[] ok,
        List<SkippedImage> skipped, IProgress<FeaturizationProgress>? progress, Stopwatch clock, StageTimer stages, CancellationToken cancellationToken)
    {
        int d = Dimensions;
        var channel = Channel.CreateBounded<Batch>(new BoundedChannelOptions(2) { SingleReader = true, SingleWriter = true });
        var free = new Stack<float[]>();

        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var producer = Task.Run(() => Produce(images, contentKeys, readers, channel.Writer, free, stages, cts.Token), cts.Token);
        int done = 0;
        try
        {
            long waiting = Stopwatch.GetTimestamp();
            foreach (var batch in channel.Reader.ReadAllAsync(cts.Token).ToBlockingEnumerable(cts.Token))
            {
                stages.Add(ref stages.InferenceWait, waiting);
                Run(batch, features, ok, d, _runOptions, stages);
                lock (skipped) skipped.AddRange(batch.Skipped);
                lock (free) free.Push(batch.Buffer);
                done += batch.Count;
                progress?.Report(new FeaturizationProgress(done, images.Count, done / clock.Elapsed.TotalSeconds));
                waiting = Stopwatch.GetTimestamp();
            }
            producer.GetAwaiter().GetResult();
        }
        catch
        {
            cts.Cancel();
            try { producer.Wait(); } catch (AggregateException) { }
            throw;
        }
    }

    private void Produce(IReadOnlyList<ImageSource> images, IReadOnlyList<string?>? contentKeys, PixelReaders readers, ChannelWriter<Batch> writer,
        Stack<float[]> free, StageTimer stages, CancellationToken token)
    {
        var parallel = new ParallelOptions
        {
            MaxDegreeOfParallelism = _plan.Workers,
            CancellationToken = token,
        };
        try
        {
            int size = _plan.ImagesPerCall;
            for (int start = 0; start < images.Count; start += size)
            {
                int count = Math.Min(size, images.Count - start);
                float[]? buffer;
                lock (free) free.TryPop(out buffer);
                var batch = new Batch(start, count, buffer ?? new float[size * _pixelsPerImage]);
                long decoding = Stopwatch.GetTimestamp();
                Parallel.For(0, count, parallel, slot => Read(images, contentKeys, readers, batch, slot));
                stages.Add(ref stages.Decode, decoding);
                long blocked = Stopwatch.GetTimestamp();
                writer.WriteAsync(batch, token).AsTask().GetAwaiter().GetResult();
                stages.Add(ref stages.DecodeBlocked, blocked);
            }
            writer.Complete();
        }
        catch (Exception e)
        {
            writer.Complete(e);
        }
    }

    private void Run(Batch batch, float[] features, bool[] ok, int d, RunOptions runOptions, StageTimer stages)
    {
        Interlocked.Increment(ref stages.Batches);
        // Compact readable images to the front so one call covers them all.
        int n = 0;
        var rows = new int[batch.Count];
        for (int slot = 0; slot < batch.Count; slot++)
        {
            if (!batch.Ok[slot]) continue;
            if (n != slot)
                batch.Buffer.AsSpan(slot * _pixelsPerImage, _pixelsPerImage).CopyTo(batch.Buffer.AsSpan(n * _pixelsPerImage, _pixelsPerImage));
            rows[n++] = batch.Start + slot;
        }
        if (n == 0) return;

        var memory = new Memory<float>(batch.Buffer, 0, n * _pixelsPerImage);
        using var input = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, memory, [n, 3, _backbone.ResizeSize, _backbone.ResizeSize]);
        long running = Stopwatch.GetTimestamp();
        using var outputs = _session.Run(runOptions, [FeaturizerGraph.InputName], [input], [FeaturizerGraph.OutputName]);
        stages.Add(ref stages.Inference, running);
        var values = outputs[0].GetTensorDataAsSpan<float>();
        for (int i = 0; i < n; i++)
        {
            values.Slice(i * d, d).CopyTo(features.AsSpan(rows[i] * d, d));
            ok[rows[i]] = true;
        }
    }

    /// <summary>Stopwatch ticks per stage of one call, added from any thread (see <see cref="FeaturizationStages"/>).</summary>
    private sealed class StageTimer
    {
        public int Batches;
        public long Decode, Inference, InferenceWait, DecodeBlocked;

        /// <summary>Adds the ticks since <paramref name="since"/> to <paramref name="counter"/>.</summary>
        public void Add(ref long counter, long since) => Interlocked.Add(ref counter, Stopwatch.GetTimestamp() - since);

        public FeaturizationStages Result()
        {
            static double Seconds(long ticks) => (double)ticks / Stopwatch.Frequency;
            return new(Batches, Seconds(Decode), Seconds(Inference), Seconds(InferenceWait), Seconds(DecodeBlocked));
        }
    }

    private sealed class Batch(int start, int count, float[] buffer)
    {
        public int Start { get; } = start;
        public int Count { get; } = count;
        public float[] Buffer { get; } = buffer;
        public bool[] Ok { get; } = new bool[count];
        public List<SkippedImage> Skipped { get; } = [];
    }
}
