using TempMe.Pipeline.Encoder.Kernels;
using static TempMe.Pipeline.Encoder.Tests.Kernels.KernelTestData;

namespace TempMe.Pipeline.Encoder.Tests.Kernels;

public sealed class ElementwiseKernelTests
{
    public static TheoryData<int> AllLengths => LengthData;

    [Theory]
    [MemberData(nameof(AllLengths))]
    public void LayerNorm_matches_the_scalar_reference(int n)
    {
        var x = Random(n, n, 3f);
        var g = Random(n, n + 1);
        var b = Random(n, n + 2);
        var expected = new float[n];
        var actual = new float[n];
        LayerNorm.Reference(x, expected, g, b);
        LayerNorm.Apply(x, actual, g, b);
        AssertClose(expected, actual, 1e-4f);

        LayerNorm.Apply(x, x, g, b); // in place
        AssertClose(expected, x, 1e-4f);
    }

    [Theory]
    [MemberData(nameof(AllLengths))]
    public void Softmax_matches_the_scalar_reference(int n)
    {
        var x = Random(n, n, 10f);
        var expected = new float[n];
        var actual = new float[n];
        Softmax.Reference(x, expected);
        Softmax.Apply(x, actual);
        AssertClose(expected, actual);
        Softmax.Apply(x, x);
        AssertClose(expected, x);
    }

    [Theory]
    [MemberData(nameof(AllLengths))]
    public void QuickGelu_matches_the_scalar_reference(int n)
    {
        var x = Random(n, n, 6f);
        var expected = new float[n];
        var actual = new float[n];
        QuickGelu.Reference(x, expected);
        QuickGelu.Apply(x, actual);
        AssertClose(expected, actual);
        QuickGelu.ApplyInPlace(x);
        AssertClose(expected, x);
    }

    [Theory]
    [MemberData(nameof(AllLengths))]
    public void L2Normalize_matches_the_scalar_reference(int n)
    {
        var x = Random(n, n, 2f);
        var expected = new float[n];
        var actual = new float[n];
        L2Normalize.Reference(x, expected);
        L2Normalize.Apply(x, actual);
        AssertClose(expected, actual);
    }

    [Fact]
    public void Too_short_destinations_throw()
    {
        var x = new float[8];
        Assert.Throws<ArgumentException>(() => Softmax.Apply(x, new float[7]));
        Assert.Throws<ArgumentException>(() => QuickGelu.Apply(x, new float[7]));
        Assert.Throws<ArgumentException>(() => L2Normalize.Apply(x, new float[7]));
        Assert.Throws<ArgumentException>(() => LayerNorm.Apply(x, new float[7], new float[8], new float[8]));
        Assert.Throws<ArgumentException>(() => LayerNorm.Apply(x, new float[8], new float[7], new float[8]));
    }

    [Fact]
    public void NaN_propagates_and_softmax_ignores_negative_infinity()
    {
        var x = new float[] { 1, float.NaN, 3 };
        var y = new float[3];
        LayerNorm.Apply(x, y, [1, 1, 1], [0, 0, 0]);
        Assert.All(y, v => Assert.True(float.IsNaN(v)));

        Softmax.Apply([0f, float.NegativeInfinity, 0f], y);
        Assert.Equal([0.5f, 0f, 0.5f], y);
    }
}
