using System.Buffers.Binary;
using System.Text;

namespace TempMe.Pipeline.Encoder.Internal.Checkpoints;

/// <summary>
/// Reads the pickles PyTorch writes (protocols 2 to 5) without running anything: values are strings, numbers, lists,
/// tuples (<c>object?[]</c>), <see cref="PickleDict"/>, <see cref="PickleObject"/>, <see cref="TorchStorageRef"/> and
/// <see cref="TorchTensorRef"/>. Globals are looked up in <see cref="AllowedGlobals"/> (anything else is refused by
/// name); every length is checked against the bytes left, so a truncated or crafted pickle ends in a
/// <see cref="ModelLoadException"/>, never in a large allocation.
/// </summary>
internal sealed class RestrictedUnpickler
{
    /// <summary>
    /// The most values one pickle may create, and the most memo entries it may store. A state dict needs about 20 per
    /// tensor (a ViT-L/14 checkpoint some 10,000); the cap keeps a pickle of nothing but EMPTY_LIST (or MEMOIZE)
    /// opcodes from costing gigabytes of objects.
    /// </summary>
    public const int MaxValues = 2_000_000;

    private int _created;
    private readonly string _path;
    private readonly byte[] _data;
    private readonly Func<object?, TorchStorageRef> _persistentLoad;
    private readonly List<object?> _stack = [];
    private readonly Stack<int> _marks = new();
    private readonly Dictionary<long, object?> _memo = [];
    private int _pos;

    /// <summary>Creates an unpickler over <paramref name="data"/>; <paramref name="persistentLoad"/> turns a persistent id into a storage.</summary>
    public RestrictedUnpickler(string path, byte[] data, Func<object?, TorchStorageRef> persistentLoad)
    {
        _path = path;
        _data = data;
        _persistentLoad = persistentLoad;
    }

    /// <summary>Reads the pickle up to STOP and returns its value.</summary>
    public object? Load()
    {
        while (true)
        {
            var at = _pos;
            var op = Byte();
            if (op == 0x2E) // STOP
            {
                return Pop(at);
            }

            // Each group knows only its own opcodes (the groups share none), so the first that takes it is the only one.
            var handled = FramingOrStack(at, op)
                || Constant(at, op)
                || TextOrBytes(at, op)
                || Sequence(at, op)
                || Dict(at, op)
                || MemoOp(at, op)
                || GlobalOrCall(at, op);
            if (!handled)
            {
                throw Bad(at, $"pickle opcode 0x{op:x2}, which PyTorch checkpoints do not use (only the binary protocols 2 to 5 are read)");
            }
        }
    }

    private bool FramingOrStack(int at, byte op)
    {
        switch (op)
        {
            case 0x80: // PROTO
                if (Byte() > 5)
                {
                    throw Bad(at, "an unknown pickle protocol");
                }

                return true;
            case 0x95: // FRAME: a length hint only
                Take(8);
                return true;
            case 0x28: // MARK
                // A mark pushes no value but still costs memory, so it counts against MaxValues too.
                CountValue();
                _marks.Push(_stack.Count);
                return true;
            case 0x30: // POP
                Pop(at);
                return true;
            case 0x31: // POP_MARK
                PopMark(at);
                return true;
            case 0x32: // DUP
                Push(Peek(at));
                return true;
            default:
                return false;
        }
    }

    private bool Constant(int at, byte op)
    {
        switch (op)
        {
            case 0x4E: // NONE
                Push(null);
                return true;
            case 0x88: // NEWTRUE
                Push(true);
                return true;
            case 0x89: // NEWFALSE
                Push(false);
                return true;
            case 0x4A: // BININT
                Push((long)BinaryPrimitives.ReadInt32LittleEndian(Take(4)));
                return true;
            case 0x4B: // BININT1
                Push((long)Byte());
                return true;
            case 0x4D: // BININT2
                Push((long)BinaryPrimitives.ReadUInt16LittleEndian(Take(2)));
                return true;
            case 0x8A: // LONG1
                Push(Long(at, Byte()));
                return true;
            case 0x8B: // LONG4
                Push(Long(at, Length(at, BinaryPrimitives.ReadInt32LittleEndian(Take(4)))));
                return true;
            case 0x47: // BINFLOAT (big-endian)
                Push(BinaryPrimitives.ReadDoubleBigEndian(Take(8)));
                return true;
            default:
                return false;
        }
    }

    private bool TextOrBytes(int at, byte op)
    {
        switch (op)
        {
            case 0x8C: // SHORT_BINUNICODE
                Push(Text(at, Byte()));
                return true;
            case 0x58: // BINUNICODE
                Push(Text(at, Length(at, BinaryPrimitives.ReadUInt32LittleEndian(Take(4)))));
                return true;
            case 0x8D: // BINUNICODE8
                Push(Text(at, Length(at, BinaryPrimitives.ReadUInt64LittleEndian(Take(8)))));
                return true;
            case 0x55: // SHORT_BINSTRING
                Push(Latin1(Byte()));
                return true;
            case 0x54: // BINSTRING
                Push(Latin1(Length(at, BinaryPrimitives.ReadInt32LittleEndian(Take(4)))));
                return true;
            case 0x43: // SHORT_BINBYTES
                Push(Take(Byte()).ToArray());
                return true;
            case 0x42: // BINBYTES
                Push(Take(Length(at, BinaryPrimitives.ReadUInt32LittleEndian(Take(4)))).ToArray());
                return true;
            case 0x8E: // BINBYTES8
                Push(Take(Length(at, BinaryPrimitives.ReadUInt64LittleEndian(Take(8)))).ToArray());
                return true;
            default:
                return false;
        }
    }

    private bool Sequence(int at, byte op)
    {
        switch (op)
        {
            case 0x29: // EMPTY_TUPLE
                Push(Array.Empty<object?>());
                return true;
            case 0x85: // TUPLE1
            case 0x86: // TUPLE2
            case 0x87: // TUPLE3
                Push(SmallTuple(at, op - 0x84));
                return true;
            case 0x74: // TUPLE
                Push(PopMark(at).ToArray());
                return true;
            case 0x5D: // EMPTY_LIST
                Push(new List<object?>());
                return true;
            case 0x6C: // LIST
                Push(PopMark(at));
                return true;
            case 0x61: // APPEND
            {
                var value = Pop(at);
                ListAt(at, Peek(at)).Add(value);
                return true;
            }

            case 0x65: // APPENDS
            {
                var items = PopMark(at);
                ListAt(at, Peek(at)).AddRange(items);
                return true;
            }

            default:
                return false;
        }
    }

    private object?[] SmallTuple(int at, int n)
    {
        // TUPLE1..3 take items from above the innermost mark only: what lies below it belongs to the unfinished MARK.
        if (_stack.Count - Floor() < n)
        {
            throw Bad(at, "a tuple of more items than the stack holds");
        }

        var items = _stack.GetRange(_stack.Count - n, n).ToArray();
        _stack.RemoveRange(_stack.Count - n, n);
        return items;
    }

    private bool Dict(int at, byte op)
    {
        switch (op)
        {
            case 0x7D: // EMPTY_DICT
                Push(new PickleDict());
                return true;
            case 0x64: // DICT
            {
                var dict = new PickleDict();
                SetItems(at, dict, PopMark(at));
                Push(dict);
                return true;
            }

            case 0x73: // SETITEM
            {
                var value = Pop(at);
                var key = Pop(at);
                DictAt(at, Peek(at)).Set(key, value);
                return true;
            }

            case 0x75: // SETITEMS
            {
                var items = PopMark(at);
                SetItems(at, DictAt(at, Peek(at)), items);
                return true;
            }

            default:
                return false;
        }
    }

    private bool MemoOp(int at, byte op)
    {
        switch (op)
        {
            case 0x68: // BINGET
                Push(Get(at, Byte()));
                return true;
            case 0x6A: // LONG_BINGET
                Push(Get(at, BinaryPrimitives.ReadUInt32LittleEndian(Take(4))));
                return true;
            case 0x71: // BINPUT
                Memo(at, Byte());
                return true;
            case 0x72: // LONG_BINPUT
                Memo(at, BinaryPrimitives.ReadUInt32LittleEndian(Take(4)));
                return true;
            case 0x94: // MEMOIZE
                Memo(at, _memo.Count);
                return true;
            default:
                return false;
        }
    }

    private bool GlobalOrCall(int at, byte op)
    {
        switch (op)
        {
            case 0x63: // GLOBAL "module\nname\n"
            {
                var module = Line(at);
                var name = Line(at);
                Push(AllowedGlobals.Resolve(_path, module, name));
                return true;
            }

            case 0x93: // STACK_GLOBAL
            {
                var name = Pop(at) as string;
                var module = Pop(at) as string;
                if (name is null || module is null)
                {
                    throw Bad(at, "STACK_GLOBAL without a module and a name");
                }

                Push(AllowedGlobals.Resolve(_path, module, name));
                return true;
            }

            case 0x51: // BINPERSID
                Push(_persistentLoad(Pop(at)));
                return true;
            case 0x52: // REDUCE
            {
                var args = Pop(at) as object?[] ?? throw Bad(at, "REDUCE without an argument tuple");
                Push(Call(at, Pop(at), args));
                return true;
            }

            case 0x81: // NEWOBJ
                // The arguments are checked but unused: the classes NEWOBJ may build take their state from BUILD.
                _ = Pop(at) as object?[] ?? throw Bad(at, "NEWOBJ without an argument tuple");
                Push(New(at, Pop(at)));
                return true;
            case 0x62: // BUILD
                Build(at, Pop(at));
                return true;
            default:
                return false;
        }
    }

    private void Build(int at, object? state)
    {
        switch (Peek(at))
        {
            case PickleObject o:
                o.State = state;
                break;
            case PickleDict or TorchTensorRef:
                // An OrderedDict's attributes (a state dict's _metadata) or a parameter's: not weights.
                break;
            default:
                throw Bad(at, "BUILD on a value that takes no state");
        }
    }

    private object? Call(int at, object? callable, object?[] args)
    {
        if (callable is not PickleGlobal g)
        {
            throw Bad(at, "a call of something that is not a global");
        }

        switch (g.Kind)
        {
            case PickleGlobalKind.OrderedDict:
                if (args.Length != 0)
                {
                    throw Bad(at, "OrderedDict called with arguments");
                }

                return new PickleDict();
            case PickleGlobalKind.RebuildTensor:
                return TensorRebuilder.Rebuild(_path, args);
            case PickleGlobalKind.RebuildParameter:
            case PickleGlobalKind.FirstArgument:
                return args.Length > 0 ? args[0] : throw Bad(at, $"{g.FullName} called without arguments");
            default:
                throw Bad(at, $"a call of {g.FullName}, which is not a function");
        }
    }

    private object New(int at, object? cls) => cls switch
    {
        PickleGlobal { Kind: PickleGlobalKind.OrderedDict } => new PickleDict(),
        PickleGlobal { Kind: PickleGlobalKind.ScriptClass } g => new PickleObject(g.FullName),
        PickleGlobal g => throw Bad(at, $"NEWOBJ of {g.FullName}, which is not a class"),
        _ => throw Bad(at, "NEWOBJ of something that is not a global"),
    };

    private void SetItems(int at, PickleDict dict, List<object?> items)
    {
        if (items.Count % 2 != 0)
        {
            throw Bad(at, "a dict with a key but no value");
        }

        for (var i = 0; i < items.Count; i += 2)
        {
            dict.Set(items[i], items[i + 1]);
        }
    }

    private List<object?> ListAt(int at, object? value) => value as List<object?> ?? throw Bad(at, "APPEND to something that is not a list");

    private PickleDict DictAt(int at, object? value) => value as PickleDict ?? throw Bad(at, "SETITEM on something that is not a dict");

    private object? Get(int at, long key) => _memo.TryGetValue(key, out var v) ? v : throw Bad(at, $"a memo reference {key} that was never stored");

    private void Memo(int at, long key)
    {
        // A memo entry costs as much as a value but pushes nothing: without this cap, MEMOIZE (one byte) repeated
        // over a 16 MB pickle would build 16 million entries.
        if (_memo.Count >= MaxValues && !_memo.ContainsKey(key))
        {
            throw new ModelLoadException($"{_path}: not a valid PyTorch checkpoint: its pickle stores more than {MaxValues} memo entries (a crafted file; a weights file needs a few per tensor).");
        }

        _memo[key] = Peek(at);
    }

    private int Floor() => _marks.Count > 0 ? _marks.Peek() : 0;

    private void Push(object? value)
    {
        CountValue();
        _stack.Add(value);
    }

    private void CountValue()
    {
        if (++_created > MaxValues)
        {
            throw new ModelLoadException($"{_path}: not a valid PyTorch checkpoint: its pickle creates more than {MaxValues} values (a crafted file; a weights file needs a few per tensor).");
        }
    }

    private object? Peek(int at) => _stack.Count > Floor() ? _stack[^1] : throw Bad(at, "an empty stack");

    private object? Pop(int at)
    {
        var v = Peek(at);
        _stack.RemoveAt(_stack.Count - 1);
        return v;
    }

    private List<object?> PopMark(int at)
    {
        if (_marks.Count == 0)
        {
            throw Bad(at, "a MARK that was never set");
        }

        var m = _marks.Pop();
        var items = _stack.GetRange(m, _stack.Count - m);
        _stack.RemoveRange(m, _stack.Count - m);
        return items;
    }

    private byte Byte() => Take(1)[0];

    private ReadOnlySpan<byte> Take(int n)
    {
        if (n < 0 || n > _data.Length - _pos)
        {
            throw new ModelLoadException($"{_path}: truncated checkpoint: its pickle ends at byte {_data.Length} in the middle of a value (at byte {_pos}).");
        }

        var span = _data.AsSpan(_pos, n);
        _pos += n;
        return span;
    }

    private int Length(int at, long n) => n >= 0 && n <= _data.Length - _pos ? (int)n : throw Bad(at, $"a length of {n} bytes, more than the {_data.Length - _pos} left in the pickle");

    private int Length(int at, ulong n) => n <= (ulong)(_data.Length - _pos) ? (int)n : throw Bad(at, $"a length of {n} bytes, more than the {_data.Length - _pos} left in the pickle");

    private string Text(int at, int n)
    {
        try
        {
            return new UTF8Encoding(false, true).GetString(Take(n));
        }
        catch (DecoderFallbackException)
        {
            throw Bad(at, "a string that is not UTF-8");
        }
    }

    private string Latin1(int n) => Encoding.Latin1.GetString(Take(n));

    private string Line(int at)
    {
        var end = Array.IndexOf(_data, (byte)'\n', _pos, Math.Min(_data.Length - _pos, 256));
        if (end < 0)
        {
            throw Bad(at, "a GLOBAL name that does not end within 256 bytes");
        }

        var s = Encoding.UTF8.GetString(_data, _pos, end - _pos);
        _pos = end + 1;
        return s;
    }

    private long Long(int at, int n)
    {
        if (n > 8)
        {
            throw Bad(at, $"an integer of {n} bytes (more than 64 bits)");
        }

        var bytes = Take(n);
        long v = 0;
        for (var i = n - 1; i >= 0; i--)
        {
            v = (v << 8) | bytes[i];
        }

        // Sign-extend from the top byte (two's complement, little-endian).
        if (n is > 0 and < 8 && (bytes[n - 1] & 0x80) != 0)
        {
            v -= 1L << (8 * n);
        }

        return v;
    }

    private ModelLoadException Bad(int at, string problem) => new($"{_path}: not a valid PyTorch checkpoint: its pickle has {problem} (at byte {at}; a corrupt or crafted file).");
}
