using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Edge.Runtime.Model;

/// <summary>
/// The lane-wise float operations <see cref="Activations"/> needs, over one vector width, so that one generic body
/// serves Vector128, Vector256 and Vector512 (the runtime's own <c>ISimdVector</c> is not public).
/// </summary>
interface IFloatVector<TSelf> where TSelf : struct, IFloatVector<TSelf>
{
    static abstract int Count { get; }

    static abstract TSelf Load(ref float source, nuint index);

    void Store(ref float destination, nuint index);

    /// <summary>The value in every lane.</summary>
    static abstract implicit operator TSelf(float value);

    static abstract TSelf operator -(TSelf value);

    static abstract TSelf operator +(TSelf left, TSelf right);

    static abstract TSelf operator -(TSelf left, TSelf right);

    static abstract TSelf operator *(TSelf left, TSelf right);

    static abstract TSelf operator /(TSelf left, TSelf right);

    static abstract TSelf CopySign(TSelf value, TSelf sign);

    /// <summary>left·right + addend with one rounding.</summary>
    static abstract TSelf FusedMultiplyAdd(TSelf left, TSelf right, TSelf addend);

    /// <summary>The larger of value and floor; NaN where value is NaN.</summary>
    static abstract TSelf AtLeast(TSelf value, TSelf floor);

    /// <summary>All bits set in the lanes whose sign bit is set (−0 and negative NaNs included), zero elsewhere.</summary>
    static abstract TSelf SignMask(TSelf value);

    /// <summary>The lanes of whenTrue where mask is set, of whenFalse elsewhere.</summary>
    static abstract TSelf Select(TSelf mask, TSelf whenTrue, TSelf whenFalse);

    /// <summary>Each lane's bits, as an int32, shifted left.</summary>
    static abstract TSelf ShiftBitsLeft(TSelf value, int count);
}

readonly struct FloatVector128(Vector128<float> value) : IFloatVector<FloatVector128>
{
    readonly Vector128<float> _value = value;

    public static int Count => Vector128<float>.Count;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatVector128 Load(ref float source, nuint index) => new(Vector128.LoadUnsafe(ref source, index));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Store(ref float destination, nuint index) => _value.StoreUnsafe(ref destination, index);

    public static implicit operator FloatVector128(float value) => new(Vector128.Create(value));

    public static FloatVector128 operator -(FloatVector128 value) => new(-value._value);

    public static FloatVector128 operator +(FloatVector128 left, FloatVector128 right) => new(left._value + right._value);

    public static FloatVector128 operator -(FloatVector128 left, FloatVector128 right) => new(left._value - right._value);

    public static FloatVector128 operator *(FloatVector128 left, FloatVector128 right) => new(left._value * right._value);

    public static FloatVector128 operator /(FloatVector128 left, FloatVector128 right) => new(left._value / right._value);

    public static FloatVector128 CopySign(FloatVector128 value, FloatVector128 sign) => new(Vector128.CopySign(value._value, sign._value));

    public static FloatVector128 FusedMultiplyAdd(FloatVector128 left, FloatVector128 right, FloatVector128 addend) =>
        new(Vector128.FusedMultiplyAdd(left._value, right._value, addend._value));

    public static FloatVector128 AtLeast(FloatVector128 value, FloatVector128 floor) =>
        new(Vector128.ConditionalSelect(Vector128.LessThan(value._value, floor._value), floor._value, value._value));

    public static FloatVector128 SignMask(FloatVector128 value) =>
        new(Vector128.ShiftRightArithmetic(value._value.AsInt32(), 31).AsSingle());

    public static FloatVector128 Select(FloatVector128 mask, FloatVector128 whenTrue, FloatVector128 whenFalse) =>
        new(Vector128.ConditionalSelect(mask._value, whenTrue._value, whenFalse._value));

    public static FloatVector128 ShiftBitsLeft(FloatVector128 value, int count) =>
        new(Vector128.ShiftLeft(value._value.AsInt32(), count).AsSingle());
}

readonly struct FloatVector256(Vector256<float> value) : IFloatVector<FloatVector256>
{
    readonly Vector256<float> _value = value;

    public static int Count => Vector256<float>.Count;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatVector256 Load(ref float source, nuint index) => new(Vector256.LoadUnsafe(ref source, index));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Store(ref float destination, nuint index) => _value.StoreUnsafe(ref destination, index);

    public static implicit operator FloatVector256(float value) => new(Vector256.Create(value));

    public static FloatVector256 operator -(FloatVector256 value) => new(-value._value);

    public static FloatVector256 operator +(FloatVector256 left, FloatVector256 right) => new(left._value + right._value);

    public static FloatVector256 operator -(FloatVector256 left, FloatVector256 right) => new(left._value - right._value);

    public static FloatVector256 operator *(FloatVector256 left, FloatVector256 right) => new(left._value * right._value);

    public static FloatVector256 operator /(FloatVector256 left, FloatVector256 right) => new(left._value / right._value);

    public static FloatVector256 CopySign(FloatVector256 value, FloatVector256 sign) => new(Vector256.CopySign(value._value, sign._value));

    public static FloatVector256 FusedMultiplyAdd(FloatVector256 left, FloatVector256 right, FloatVector256 addend) =>
        new(Vector256.FusedMultiplyAdd(left._value, right._value, addend._value));

    public static FloatVector256 AtLeast(FloatVector256 value, FloatVector256 floor) =>
        new(Vector256.ConditionalSelect(Vector256.LessThan(value._value, floor._value), floor._value, value._value));

    public static FloatVector256 SignMask(FloatVector256 value) =>
        new(Vector256.ShiftRightArithmetic(value._value.AsInt32(), 31).AsSingle());

    public static FloatVector256 Select(FloatVector256 mask, FloatVector256 whenTrue, FloatVector256 whenFalse) =>
        new(Vector256.ConditionalSelect(mask._value, whenTrue._value, whenFalse._value));

    public static FloatVector256 ShiftBitsLeft(FloatVector256 value, int count) =>
        new(Vector256.ShiftLeft(value._value.AsInt32(), count).AsSingle());
}

readonly struct FloatVector512(Vector512<float> value) : IFloatVector<FloatVector512>
{
    readonly Vector512<float> _value = value;

    public static int Count => Vector512<float>.Count;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatVector512 Load(ref float source, nuint index) => new(Vector512.LoadUnsafe(ref source, index));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Store(ref float destination, nuint index) => _value.StoreUnsafe(ref destination, index);

    public static implicit operator FloatVector512(float value) => new(Vector512.Create(value));

    public static FloatVector512 operator -(FloatVector512 value) => new(-value._value);

    public static FloatVector512 operator +(FloatVector512 left, FloatVector512 right) => new(left._value + right._value);

    public static FloatVector512 operator -(FloatVector512 left, FloatVector512 right) => new(left._value - right._value);

    public static FloatVector512 operator *(FloatVector512 left, FloatVector512 right) => new(left._value * right._value);

    public static FloatVector512 operator /(FloatVector512 left, FloatVector512 right) => new(left._value / right._value);

    public static FloatVector512 CopySign(FloatVector512 value, FloatVector512 sign) => new(Vector512.CopySign(value._value, sign._value));

    public static FloatVector512 FusedMultiplyAdd(FloatVector512 left, FloatVector512 right, FloatVector512 addend) =>
        new(Vector512.FusedMultiplyAdd(left._value, right._value, addend._value));

    public static FloatVector512 AtLeast(FloatVector512 value, FloatVector512 floor) =>
        new(Vector512.ConditionalSelect(Vector512.LessThan(value._value, floor._value), floor._value, value._value));

    public static FloatVector512 SignMask(FloatVector512 value) =>
        new(Vector512.ShiftRightArithmetic(value._value.AsInt32(), 31).AsSingle());

    public static FloatVector512 Select(FloatVector512 mask, FloatVector512 whenTrue, FloatVector512 whenFalse) =>
        new(Vector512.ConditionalSelect(mask._value, whenTrue._value, whenFalse._value));

    public static FloatVector512 ShiftBitsLeft(FloatVector512 value, int count) =>
        new(Vector512.ShiftLeft(value._value.AsInt32(), count).AsSingle());
}
