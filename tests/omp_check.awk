# OpenMP loops as MSVC's OpenMP 2.0 compiles them (tests/matrix.sh runs this over convae.h,
# examples/ and tools/): after "#pragma omp for" or "#pragma omp parallel for" comes a for loop
# whose index is a signed int (declared in the loop or, above it, by a line that starts with
# "int"), tested with <, <=, > or >=; no collapse clause. A grep-level check: it reads lines,
# not C, so keep such loops in the plain form it knows. Prints FILE:LINE: what, per violation.
function bad(n, what) {
    printf "%s:%d: %s\n", fname, n, what
    nbad++
}
function check_file(   n, m, k, h, v, ty, cond, found) {
    for (n = 1; n <= nl; n++) {
        if (line[n] !~ /^[ \t]*#[ \t]*pragma[ \t]+omp[ \t]/) continue
        if (line[n] ~ /collapse/) bad(n, "collapse is not in OpenMP 2.0")
        if (line[n] !~ /[ \t]for([ \t]|$)/) continue
        m = n + 1
        while (m <= nl && line[m] ~ /^[ \t]*#/) m++
        if (line[m] !~ /^[ \t]*for[ \t]*\(/) { bad(m, "the line after \"#pragma omp ... for\" is not a for loop"); continue }
        h = line[m]
        sub(/^[ \t]*for[ \t]*\([ \t]*/, "", h)
        if (match(h, /^[A-Za-z_][A-Za-z0-9_ \t]*[ \t][A-Za-z_][A-Za-z0-9_]*[ \t]*=/)) {
            ty = substr(h, 1, RLENGTH)
            sub(/[ \t]*=$/, "", ty)
            v = ty
            sub(/^.*[ \t]/, "", v)
            sub(/[ \t]+[A-Za-z_][A-Za-z0-9_]*$/, "", ty)
            if (ty != "int") bad(m, "loop index " v " is " ty ", not int")
        } else if (match(h, /^[A-Za-z_][A-Za-z0-9_]*/)) {
            v = substr(h, 1, RLENGTH)
            found = 0
            for (k = n - 1; k >= 1 && line[k] !~ /^[{}]/; k--) {
                if (line[k] !~ /^[ \t]*[A-Za-z_][A-Za-z0-9_ \t]*[ \t*]+[A-Za-z_]/) continue
                if (line[k] ~ /^[ \t]*(return|else|case|goto)[ \t]/) continue
                if (("," line[k]) !~ ("[ \t,*]" v "[ \t]*(=[^=]|[,;[])")) continue
                found = k
                break
            }
            if (!found) bad(m, "no declaration of the loop index " v " above the loop in this function")
            else if (line[found] !~ /^[ \t]*int[ \t]/ || ("," line[found]) ~ ("[*][ \t]*" v "[ \t]*[,;=[]"))
                bad(m, "loop index " v " is declared on line " found " as other than int")
        } else {
            bad(m, "no loop index found")
            continue
        }
        cond = h
        sub(/^[^;]*;/, "", cond)
        sub(/;.*$/, "", cond)
        if (cond ~ /!=/ || cond !~ /(<|>)/) bad(m, "loop test is not <, <=, > or >=")
    }
}
FNR == 1 && NR > 1 { check_file(); nl = 0 }
{ line[++nl] = $0; fname = FILENAME }
END {
    check_file()
    if (nbad) exit 1
}
