using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;

namespace TempMe.Pipeline.Hosting;

/// <summary>
/// Collects the measurements of the named meters with a <see cref="MeterListener"/> and writes them in the Prometheus
/// text exposition format 0.0.4: <c># HELP</c> and <c># TYPE</c> per family, counters as <c>NAME_total</c>, histograms as
/// <c>NAME_bucket{le=...}</c>, <c>NAME_sum</c> and <c>NAME_count</c>, gauges as they are. Instrument names have dots
/// and other characters Prometheus does not allow replaced by underscores (<c>tempme.queue.depth</c> becomes
/// <c>tempme_queue_depth</c>). Observable instruments are read at each scrape.
/// </summary>
public sealed class PrometheusMetrics : IDisposable
{
    /// <summary>The content type of the text format.</summary>
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    /// <summary>Histogram bucket bounds in seconds (the stage timings range from milliseconds to the 120 s decode limit).</summary>
    public static IReadOnlyList<double> Buckets { get; } = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

    private readonly MeterListener _listener = new();
    private readonly Lock _scrape = new();
    private readonly Dictionary<Instrument, InstrumentState> _states = [];
    private readonly Lock _statesLock = new();

    /// <summary>Starts listening to the meters named <paramref name="meterNames"/>.</summary>
    public PrometheusMetrics(params string[] meterNames)
    {
        var names = new HashSet<string>(meterNames, StringComparer.Ordinal);
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (!names.Contains(instrument.Meter.Name))
            {
                return;
            }

            var state = new InstrumentState(instrument);
            lock (_statesLock)
            {
                _states[instrument] = state;
            }

            listener.EnableMeasurementEvents(instrument, state);
        };
        _listener.MeasurementsCompleted = (instrument, _) =>
        {
            lock (_statesLock)
            {
                _states.Remove(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((_, value, tags, state) => ((InstrumentState)state!).Record(value, tags));
        _listener.SetMeasurementEventCallback<int>((_, value, tags, state) => ((InstrumentState)state!).Record(value, tags));
        _listener.SetMeasurementEventCallback<double>((_, value, tags, state) => ((InstrumentState)state!).Record(value, tags));
        _listener.SetMeasurementEventCallback<float>((_, value, tags, state) => ((InstrumentState)state!).Record(value, tags));
        _listener.Start();
    }

    /// <summary>Reads the observable instruments and writes every family in the text format.</summary>
    public string Write()
    {
        lock (_scrape)
        {
            InstrumentState[] states;
            lock (_statesLock)
            {
                states = [.. _states.Values];
            }

            foreach (var state in states)
            {
                state.BeginScrape();
            }

            _listener.RecordObservableInstruments();
            var text = new StringBuilder();
            foreach (var family in states.Where(s => s.HasSeries).GroupBy(s => s.FamilyName).OrderBy(g => g.Key, StringComparer.Ordinal))
            {
                var first = family.First();
                text.Append("# HELP ").Append(family.Key).Append(' ').Append(EscapeHelp(first.Help)).Append('\n');
                text.Append("# TYPE ").Append(family.Key).Append(' ').Append(first.PrometheusType).Append('\n');
                foreach (var state in family)
                {
                    state.WriteSeries(text);
                }
            }

            return text.ToString();
        }
    }

    /// <inheritdoc />
    public void Dispose() => _listener.Dispose();

    /// <summary>An instrument name as a Prometheus metric name.</summary>
    public static string MetricName(string name)
    {
        var chars = name.Select((c, i) => char.IsAsciiLetter(c) || c is '_' or ':' || (char.IsAsciiDigit(c) && i > 0) ? c : '_').ToArray();
        return new string(chars);
    }

    internal static string Format(double value) =>
        double.IsPositiveInfinity(value) ? "+Inf" : double.IsNegativeInfinity(value) ? "-Inf" : double.IsNaN(value) ? "NaN" : value.ToString("R", CultureInfo.InvariantCulture);

    private static string EscapeHelp(string text) => text.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);

    private static string EscapeLabel(string text) =>
        text.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);

    private enum Kind
    {
        Counter,
        Gauge,
        Histogram,
    }

    private sealed class InstrumentState
    {
        private readonly Kind _kind;
        private readonly bool _observable;
        private readonly bool _cumulative;
        private readonly string _name;
        private readonly Lock _lock = new();
        private readonly SortedDictionary<string, Series> _series = new(StringComparer.Ordinal);

        public InstrumentState(Instrument instrument)
        {
            var type = instrument.GetType();
            var generic = type.IsGenericType ? type.GetGenericTypeDefinition() : type;
            _observable = instrument.IsObservable;
            (_kind, _cumulative) = generic.Name switch
            {
                "Counter`1" => (Kind.Counter, false),
                "ObservableCounter`1" => (Kind.Counter, true),
                "Histogram`1" => (Kind.Histogram, false),
                "UpDownCounter`1" => (Kind.Gauge, false),
                _ => (Kind.Gauge, true), // ObservableGauge, ObservableUpDownCounter, Gauge: the last value is the value
            };
            _name = MetricName(instrument.Name);
            FamilyName = _kind == Kind.Counter && !_name.EndsWith("_total", StringComparison.Ordinal) ? _name + "_total" : _name;
            Help = string.IsNullOrWhiteSpace(instrument.Description) ? instrument.Name : instrument.Description;
        }

        public string FamilyName { get; }

        public bool HasSeries
        {
            get
            {
                lock (_lock)
                {
                    return _series.Count > 0;
                }
            }
        }

        public string Help { get; }

        public string PrometheusType => _kind switch
        {
            Kind.Counter => "counter",
            Kind.Histogram => "histogram",
            _ => "gauge",
        };

        public void BeginScrape()
        {
            if (_observable)
            {
                lock (_lock)
                {
                    _series.Clear();
                }
            }
        }

        public void Record(double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            var labels = Labels(tags);
            lock (_lock)
            {
                if (!_series.TryGetValue(labels, out var series))
                {
                    series = new Series(_kind == Kind.Histogram ? new long[Buckets.Count] : null);
                    _series[labels] = series;
                }

                if (_kind == Kind.Histogram)
                {
                    for (var i = 0; i < Buckets.Count; i++)
                    {
                        if (value <= Buckets[i])
                        {
                            series.Buckets![i]++;
                        }
                    }

                    series.Count++;
                    series.Value += value;
                }
                else if (_cumulative)
                {
                    series.Value = value;
                }
                else
                {
                    series.Value += value;
                }
            }
        }

        public void WriteSeries(StringBuilder text)
        {
            lock (_lock)
            {
                foreach (var (labels, series) in _series)
                {
                    if (_kind != Kind.Histogram)
                    {
                        text.Append(FamilyName).Append(Braces(labels)).Append(' ').Append(Format(series.Value)).Append('\n');
                        continue;
                    }

                    for (var i = 0; i < Buckets.Count; i++)
                    {
                        text.Append(_name).Append("_bucket").Append(Braces(Join(labels, $"le=\"{Format(Buckets[i])}\""))).Append(' ').Append(series.Buckets![i]).Append('\n');
                    }

                    text.Append(_name).Append("_bucket").Append(Braces(Join(labels, "le=\"+Inf\""))).Append(' ').Append(series.Count).Append('\n');
                    text.Append(_name).Append("_sum").Append(Braces(labels)).Append(' ').Append(Format(series.Value)).Append('\n');
                    text.Append(_name).Append("_count").Append(Braces(labels)).Append(' ').Append(series.Count).Append('\n');
                }
            }
        }

        private static string Labels(ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            if (tags.Length == 0)
            {
                return "";
            }

            var pairs = new List<string>(tags.Length);
            foreach (var tag in tags)
            {
                pairs.Add($"{MetricName(tag.Key)}=\"{EscapeLabel(Convert.ToString(tag.Value, CultureInfo.InvariantCulture) ?? "")}\"");
            }

            pairs.Sort(StringComparer.Ordinal);
            return string.Join(',', pairs);
        }

        private static string Join(string labels, string extra) => labels.Length == 0 ? extra : labels + "," + extra;

        private static string Braces(string labels) => labels.Length == 0 ? "" : "{" + labels + "}";
    }

    private sealed class Series(long[]? buckets)
    {
        public long[]? Buckets { get; } = buckets;

        public long Count { get; set; }

        public double Value { get; set; }
    }
}
