using TempMe.Pipeline.Encoder.Kernels;
using static TempMe.Pipeline.Encoder.Tests.Kernels.KernelTestData;

namespace TempMe.Pipeline.Encoder.Tests.Kernels;

public sealed class MatrixKernelTests
{
    public static TheoryData<int, int, int, bool> Shapes => new()
    {
        { 0, 5, 3, true }, { 1, 1, 1, true }, { 7, 13, 64, true }, { 33, 65, 257, true }, { 50, 96, 768, true },
        { 1, 1, 1, false }, { 9, 17, 31, false }, { 24, 64, 256, false },
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Gemm_blas_and_managed_match_the_scalar_reference(int m, int n, int k, bool transB)
    {
        var a = Random(m * k, 1);
        var b = Random(n * k, 2);
        var c0 = Random(m * n, 3);
        var expected = (float[])c0.Clone();
        var viaGemm = (float[])c0.Clone();
        var managed = (float[])c0.Clone();
        var ldb = transB ? k : n;
        MatMul.Reference(transB, m, n, k, 0.5f, a, k, b, ldb, 0.25f, expected, n);
        MatMul.Gemm(transB, m, n, k, 0.5f, a, k, b, ldb, 0.25f, viaGemm, n);
        MatMul.Managed(transB, m, n, k, 0.5f, a, k, b, ldb, 0.25f, managed, n);
        AssertClose(expected, viaGemm, 1e-4f);
        AssertClose(expected, managed, 1e-4f);
    }

    [Fact]
    public void Gemm_rejects_short_spans()
    {
        Assert.Throws<ArgumentException>(() => MatMul.Gemm(true, 2, 2, 2, 1, new float[3], 2, new float[4], 2, 0, new float[4], 2));
        Assert.Throws<ArgumentException>(() => MatMul.Gemm(true, 2, 2, 2, 1, new float[4], 2, new float[4], 2, 0, new float[3], 2));
    }

    [Theory]
    [InlineData(1, 64, 2, false, false)]
    [InlineData(50, 64, 2, true, false)]
    [InlineData(97, 768, 12, true, false)]
    [InlineData(32, 64, 2, false, true)]
    public void Attention_head_matches_the_scalar_reference(int n, int width, int heads, bool bias, bool causal)
    {
        var qkv = Random(n * 3 * width, n, 2f);
        var keyBias = bias ? Random(n, 5, 1f) : [];
        if (causal)
        {
            keyBias = Enumerable.Range(0, n).Select(i => i > n / 2 ? float.NegativeInfinity : 0f).ToArray();
        }

        var hd = width / heads;
        var expected = new float[n * width];
        var actual = new float[n * width];
        var scores = new float[n];
        for (var h = 0; h < heads; h++)
        {
            Attention.Reference(qkv, n, width, h, hd, keyBias, causal, expected);
            Attention.Head(qkv, n, width, h, hd, keyBias, causal, actual, scores);
        }

        AssertClose(expected, actual, 1e-4f);
    }

    [Theory]
    [InlineData(50, 1, 2, 32)]
    [InlineData(96, 2, 28, 64)]
    [InlineData(237, 12, 71, 64)]
    [InlineData(150, 12, 15, 32)]
    [InlineData(3, 1, 1, 8)]
    [InlineData(1, 1, 0, 8)]
    public void BipartiteMatch_and_merge_match_the_scalar_references(int n, int cls, int r, int d)
    {
        var metric = Random(n * d, n + r, 1f);
        var na = BipartiteMatch.SizeA(n, cls);
        Assert.Equal(n - cls, na + BipartiteMatch.SizeB(n, cls));
        int[] src = new int[r], dst = new int[r], unm = new int[na - r];
        int[] rs = new int[r], rd = new int[r], ru = new int[na - r];
        BipartiteMatch.Match(metric, n, d, d, cls, r, src, dst, unm);
        BipartiteMatch.Reference(metric, n, d, d, cls, r, rs, rd, ru);
        Assert.Equal(rs, src);
        Assert.Equal(rd, dst);
        Assert.Equal(ru, unm);

        var size = Random(n, 9).Select(v => 1f + MathF.Abs(v) * 3).ToArray();
        var outN = n - r;
        float[] x1 = new float[outN * d], s1 = new float[outN], x2 = new float[outN * d], s2 = new float[outN];
        MergeWeightedAverage.Apply(metric, size, n, d, cls, src, dst, unm, x1, s1);
        MergeWeightedAverage.Reference(metric, size, n, d, cls, src, dst, unm, x2, s2);
        AssertClose(x2, x1, 1e-5f);
        AssertClose(s2, s1, 1e-6f);
        Assert.Equal(size.Sum(), s1.Sum(), 2);
    }

    [Fact]
    public void Split_alternates_over_whole_row_positions()
    {
        // c = 1: A = even whole-row positions 2,4,..; B = odd 1,3,...
        Assert.Equal(2, BipartiteMatch.PositionA(0, 1));
        Assert.Equal(1, BipartiteMatch.PositionB(0, 1));
        Assert.Equal((24, 25), (BipartiteMatch.SizeA(50, 1), BipartiteMatch.SizeB(50, 1)));

        // c = 2: A = 2,4,..; B = 3,5,...
        Assert.Equal(2, BipartiteMatch.PositionA(0, 2));
        Assert.Equal(3, BipartiteMatch.PositionB(0, 2));
        Assert.Equal((47, 47), (BipartiteMatch.SizeA(96, 2), BipartiteMatch.SizeB(96, 2)));
        Assert.Equal((113, 112), (BipartiteMatch.SizeA(237, 12), BipartiteMatch.SizeB(237, 12)));
    }

    [Fact]
    public void Match_rejects_r_larger_than_set_A()
    {
        var metric = Random(10 * 4, 1);
        Assert.Throws<ArgumentOutOfRangeException>(() => BipartiteMatch.Match(metric, 10, 4, 4, 1, 5, new int[5], new int[5], new int[0]));
    }
}
