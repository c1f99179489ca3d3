using System.Reflection;
using System.Reflection.Emit;
using System.Reflection.Metadata;
using System.Reflection.Metadata.Ecma335;
using System.Reflection.PortableExecutable;

namespace MLNetClassify.Tests.Architecture;

/// <summary>
/// One use of a type defined in the scanned assembly by a type defined there. <see cref="User"/> and <see cref="Used"/>
/// name types within their outermost type's namespace (nested types as Outer.Inner, compiler-generated ones included);
/// <see cref="Via"/> says where the use is: a member's signature or body, a base type, an attribute.
/// </summary>
internal readonly record struct TypeUse(string UserNamespace, string User, string UsedNamespace, string Used, string Via);

/// <summary>
/// Lists, from an assembly file's metadata (System.Reflection.Metadata, nothing loaded or run), which of its own types
/// each of its types uses: base types, interfaces, generic constraints, field, method, property and event signatures,
/// locals, catch clauses, every type, field and method token in method bodies' IL (call, newobj, ldfld, ldsfld, box,
/// castclass, isinst, newarr, ldtoken, initobj, constrained., …) with the generic arguments of member references and
/// method instantiations, and custom attributes with their typeof arguments. What the compiler folds away leaves no
/// trace: constants (a const field's value is copied into the IL), nameof, and usings that nothing uses.
/// </summary>
internal sealed class TypeUseScanner : ISignatureTypeProvider<TypeUseScanner.Decoded, object?>, ICustomAttributeTypeProvider<TypeUseScanner.Decoded>
{
    /// <summary>The operand type of every IL opcode, by its value (two-byte opcodes as 0xFE__).</summary>
    private static readonly Dictionary<short, OperandType> Operands = typeof(OpCodes)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Select(f => (OpCode)f.GetValue(null)!)
        .DistinctBy(o => o.Value)
        .ToDictionary(o => o.Value, o => o.OperandType);

    private readonly PEReader pe;
    private readonly MetadataReader md;
    private readonly Dictionary<string, TypeDefinitionHandle> bySerializedName = [];
    private readonly HashSet<TypeDefinitionHandle> found = [];

    private TypeUseScanner(PEReader pe)
    {
        this.pe = pe;
        md = pe.GetMetadataReader();
        foreach (var t in md.TypeDefinitions) bySerializedName[SerializedName(t)] = t;
    }

    public static List<TypeUse> Scan(string assemblyPath)
    {
        using var stream = File.OpenRead(assemblyPath);
        using var pe = new PEReader(stream);
        var scanner = new TypeUseScanner(pe);
        return scanner.md.TypeDefinitions.SelectMany(scanner.UsesBy).Distinct().ToList();
    }

    private IEnumerable<TypeUse> UsesBy(TypeDefinitionHandle handle)
    {
        var uses = new List<TypeUse>();
        var type = md.GetTypeDefinition(handle);
        var (userNamespace, user) = (NamespaceOf(handle), LocalName(handle));
        void Record(string via, Action collect)
        {
            found.Clear();
            collect();
            foreach (var used in found.Where(u => u != handle))
                uses.Add(new(userNamespace, user, NamespaceOf(used), LocalName(used), via));
        }

        Record("base type", () => { if (!type.BaseType.IsNil) Add(type.BaseType); });
        Record("interfaces", () => { foreach (var i in type.GetInterfaceImplementations()) Add(md.GetInterfaceImplementation(i).Interface); });
        Record("generic constraints", () => Constraints(type.GetGenericParameters()));
        Record("attributes", () => Attributes(type.GetCustomAttributes()));
        Record("explicit implementations", () =>
        {
            foreach (var m in type.GetMethodImplementations()) Add(md.GetMethodImplementation(m).MethodDeclaration);
        });
        foreach (var f in type.GetFields())
        {
            var field = md.GetFieldDefinition(f);
            Record($"field {md.GetString(field.Name)}", () => { field.DecodeSignature(this, null); Attributes(field.GetCustomAttributes()); });
        }
        foreach (var p in type.GetProperties())
        {
            var property = md.GetPropertyDefinition(p);
            Record($"property {md.GetString(property.Name)}", () => { property.DecodeSignature(this, null); Attributes(property.GetCustomAttributes()); });
        }
        foreach (var e in type.GetEvents())
        {
            var ev = md.GetEventDefinition(e);
            Record($"event {md.GetString(ev.Name)}", () => { Add(ev.Type); Attributes(ev.GetCustomAttributes()); });
        }
        foreach (var m in type.GetMethods())
        {
            var method = md.GetMethodDefinition(m);
            Record($"method {md.GetString(method.Name)}", () => Method(method));
        }
        return uses;
    }

    private void Method(MethodDefinition method)
    {
        method.DecodeSignature(this, null);
        Constraints(method.GetGenericParameters());
        Attributes(method.GetCustomAttributes());
        foreach (var p in method.GetParameters()) Attributes(md.GetParameter(p).GetCustomAttributes());
        if (method.RelativeVirtualAddress == 0) return;
        var body = pe.GetMethodBody(method.RelativeVirtualAddress);
        if (!body.LocalSignature.IsNil) Add(body.LocalSignature);
        foreach (var region in body.ExceptionRegions)
            if (!region.CatchType.IsNil) Add(region.CatchType);
        var il = body.GetILReader();
        while (il.RemainingBytes > 0)
        {
            short code = il.ReadByte();
            if (code == 0xFE) code = unchecked((short)(0xFE00 | il.ReadByte()));
            switch (Operands[code])
            {
                case OperandType.InlineNone: break;
                case OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar: il.Offset += 1; break;
                case OperandType.InlineVar: il.Offset += 2; break;
                case OperandType.InlineI8 or OperandType.InlineR: il.Offset += 8; break;
                case OperandType.InlineSwitch: int targets = il.ReadInt32(); il.Offset += 4 * targets; break; // `Offset += 4 * ReadInt32()` would take Offset before the read
                case OperandType.InlineField or OperandType.InlineMethod or OperandType.InlineTok or OperandType.InlineType or OperandType.InlineSig:
                    Add(MetadataTokens.EntityHandle(il.ReadInt32())); break;
                default: il.Offset += 4; break; // InlineI, InlineBrTarget, InlineString, ShortInlineR
            }
        }
    }

    /// <summary>Records the types of this assembly that a token names: itself, its declaring type, its signature.</summary>
    private void Add(EntityHandle handle)
    {
        switch (handle.Kind)
        {
            case HandleKind.TypeDefinition: found.Add((TypeDefinitionHandle)handle); break;
            case HandleKind.TypeReference: GetTypeFromReference(md, (TypeReferenceHandle)handle, 0); break;
            case HandleKind.TypeSpecification: md.GetTypeSpecification((TypeSpecificationHandle)handle).DecodeSignature(this, null); break;
            case HandleKind.FieldDefinition: found.Add(md.GetFieldDefinition((FieldDefinitionHandle)handle).GetDeclaringType()); break;
            case HandleKind.MethodDefinition: found.Add(md.GetMethodDefinition((MethodDefinitionHandle)handle).GetDeclaringType()); break;
            case HandleKind.MemberReference:
                var member = md.GetMemberReference((MemberReferenceHandle)handle);
                Add(member.Parent);
                if (member.GetKind() == MemberReferenceKind.Method) member.DecodeMethodSignature(this, null);
                else member.DecodeFieldSignature(this, null);
                break;
            case HandleKind.MethodSpecification:
                var spec = md.GetMethodSpecification((MethodSpecificationHandle)handle);
                Add(spec.Method);
                spec.DecodeSignature(this, null);
                break;
            case HandleKind.StandaloneSignature:
                var signature = md.GetStandaloneSignature((StandaloneSignatureHandle)handle);
                if (signature.GetKind() == StandaloneSignatureKind.Method) signature.DecodeMethodSignature(this, null);
                else signature.DecodeLocalSignature(this, null);
                break;
        }
    }

    private void Constraints(GenericParameterHandleCollection parameters)
    {
        foreach (var p in parameters)
            foreach (var c in md.GetGenericParameter(p).GetConstraints()) Add(md.GetGenericParameterConstraint(c).Type);
    }

    private void Attributes(CustomAttributeHandleCollection attributes)
    {
        foreach (var a in attributes)
        {
            var attribute = md.GetCustomAttribute(a);
            Add(attribute.Constructor);
            try { attribute.DecodeValue(this); } // typeof(...) arguments arrive as serialized names
            catch (BadImageFormatException) { } // an enum argument of another assembly wider than int: its arguments are skipped
        }
    }

    /// <summary>The namespace of the outermost type: nested and compiler-generated types belong where their host does.</summary>
    private string NamespaceOf(TypeDefinitionHandle handle)
    {
        var type = md.GetTypeDefinition(handle);
        var declaring = type.GetDeclaringType();
        return declaring.IsNil ? md.GetString(type.Namespace) : NamespaceOf(declaring);
    }

    private string LocalName(TypeDefinitionHandle handle)
    {
        var type = md.GetTypeDefinition(handle);
        var declaring = type.GetDeclaringType();
        return (declaring.IsNil ? "" : LocalName(declaring) + ".") + md.GetString(type.Name);
    }

    private string SerializedName(TypeDefinitionHandle handle)
    {
        var type = md.GetTypeDefinition(handle);
        var declaring = type.GetDeclaringType();
        var ns = md.GetString(type.Namespace);
        var prefix = !declaring.IsNil ? SerializedName(declaring) + "+" : ns.Length > 0 ? ns + "." : "";
        return prefix + md.GetString(type.Name);
    }

    /// <summary>What decoding a signature or attribute blob returns: the type if this assembly defines it; whether it is System.Type.</summary>
    internal readonly record struct Decoded(TypeDefinitionHandle Own, bool IsSystemType = false);

    // The decoders call these for every type a blob names, and record it as they go; results matter only for attributes.
    public Decoded GetTypeFromDefinition(MetadataReader reader, TypeDefinitionHandle handle, byte rawTypeKind)
    {
        found.Add(handle);
        return new(handle);
    }

    public Decoded GetTypeFromReference(MetadataReader reader, TypeReferenceHandle handle, byte rawTypeKind)
    {
        var reference = md.GetTypeReference(handle);
        var (ns, name) = (md.GetString(reference.Namespace), md.GetString(reference.Name));
        // The compiler names this assembly's types by definition; a reference scoped to this module is looked up by name.
        if (reference.ResolutionScope.Kind == HandleKind.ModuleDefinition) return GetTypeFromSerializedName(ns.Length > 0 ? ns + "." + name : name);
        return new(default, ns == "System" && name == "Type");
    }

    public Decoded GetTypeFromSpecification(MetadataReader reader, object? context, TypeSpecificationHandle handle, byte rawTypeKind) =>
        md.GetTypeSpecification(handle).DecodeSignature(this, context);

    public Decoded GetTypeFromSerializedName(string name)
    {
        // "Namespace.Outer+Inner[[generic arguments]], Assembly, Version=…": this assembly's types carry no assembly name.
        if (name.Contains(',') || name.Contains('[') || !bySerializedName.TryGetValue(name, out var handle)) return default;
        found.Add(handle);
        return new(handle);
    }

    public PrimitiveTypeCode GetUnderlyingEnumType(Decoded type)
    {
        if (type.Own.IsNil) return PrimitiveTypeCode.Int32; // another assembly's enum: nearly all are int
        var valueField = md.GetTypeDefinition(type.Own).GetFields().Select(md.GetFieldDefinition).First(f => md.GetString(f.Name) == "value__");
        var blob = md.GetBlobReader(valueField.Signature);
        blob.ReadSignatureHeader();
        return (PrimitiveTypeCode)blob.ReadSignatureTypeCode();
    }

    public Decoded GetSystemType() => new(default, true);
    public bool IsSystemType(Decoded type) => type.IsSystemType;
    public Decoded GetPrimitiveType(PrimitiveTypeCode typeCode) => default;
    public Decoded GetSZArrayType(Decoded elementType) => default;
    public Decoded GetArrayType(Decoded elementType, ArrayShape shape) => default;
    public Decoded GetByReferenceType(Decoded elementType) => default;
    public Decoded GetPointerType(Decoded elementType) => default;
    public Decoded GetPinnedType(Decoded elementType) => default;
    public Decoded GetModifiedType(Decoded modifier, Decoded unmodifiedType, bool isRequired) => unmodifiedType;
    public Decoded GetGenericInstantiation(Decoded genericType, System.Collections.Immutable.ImmutableArray<Decoded> typeArguments) => default;
    public Decoded GetFunctionPointerType(MethodSignature<Decoded> signature) => default;
    public Decoded GetGenericMethodParameter(object? context, int index) => default;
    public Decoded GetGenericTypeParameter(object? context, int index) => default;
}
