namespace TempMe.Pipeline.Search;

/// <summary>Keeps the <c>k</c> best rows seen so far in a min-heap: O(n log k) time, O(k) memory.</summary>
public sealed class TopKCollector
{
    private readonly ScoredRow[] _heap;
    private int _count;

    /// <summary>Creates a collector for <paramref name="k"/> rows.</summary>
    public TopKCollector(int k)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(k, 1);
        _heap = new ScoredRow[k];
    }

    /// <summary>The worst score kept once full; rows scoring below it cannot enter.</summary>
    public float Threshold => _count == _heap.Length ? _heap[0].Score : float.NegativeInfinity;

    /// <summary>Offers a row.</summary>
    public void Add(ScoredRow row)
    {
        if (_count < _heap.Length)
        {
            _heap[_count] = row;
            SiftUp(_count++);
        }
        else if (ScoredRow.BestFirst(row, _heap[0]) < 0)
        {
            _heap[0] = row;
            SiftDown(0);
        }
    }

    /// <summary>The rows kept, best first.</summary>
    public ScoredRow[] ToSortedArray()
    {
        var result = _heap[.._count];
        Array.Sort(result, ScoredRow.BestFirst);
        return result;
    }

    // The root is the worst row kept: "worse" means later in BestFirst order.
    private bool Worse(int i, int j) => ScoredRow.BestFirst(_heap[i], _heap[j]) > 0;

    private void SiftUp(int i)
    {
        while (i > 0)
        {
            var parent = (i - 1) / 2;
            if (!Worse(i, parent))
            {
                return;
            }

            (_heap[i], _heap[parent]) = (_heap[parent], _heap[i]);
            i = parent;
        }
    }

    private void SiftDown(int i)
    {
        while (true)
        {
            var worst = i;
            var left = (2 * i) + 1;
            var right = left + 1;
            if (left < _count && Worse(left, worst))
            {
                worst = left;
            }

            if (right < _count && Worse(right, worst))
            {
                worst = right;
            }

            if (worst == i)
            {
                return;
            }

            (_heap[i], _heap[worst]) = (_heap[worst], _heap[i]);
            i = worst;
        }
    }
}
