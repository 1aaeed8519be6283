var ge=null;function qe(e){ge=e===null?null:e.csrf}var ye=class extends Error{constructor(t,n,o){super(o),this.status=t,this.code=n}};function Y(){let[e,t=""]=location.hash.replace(/^#\/?/,"").split("?"),n=e.split("/").map(decodeURIComponent);return{page:n[0]||"fleet",arg:n[1]??null,query:new URLSearchParams(t)}}function V(e){let t=new URLSearchParams;for(let[o,a]of Object.entries(e))a!=null&&a!==""&&t.set(o,String(a));let n=t.toString();return n===""?"":`?${n}`}var Dt=()=>new Date(new Date().toISOString().slice(0,10)).toISOString(),Ot=()=>`${new Date().toISOString().slice(0,7)}-01T00:00:00.000Z`,P={fleet:()=>({series:"/api/audit/series?since=1h",budgets:"/api/budgets",today:`/api/audit/summary?by=team&since=${Dt()}`,month:`/api/audit/summary?since=${Ot()}`}),agents:()=>({agents:"/api/agents"}),agent:e=>({agent:`/api/agents/${encodeURIComponent(e)}`,calls:`/api/audit${V({agent:e,order:"newest",limit:50})}`,series:`/api/audit/series${V({agent:e,since:"24h"})}`,kills:"/api/kills"}),approvals:()=>({approvals:"/api/approvals"}),audit:e=>({events:`/api/audit${V({...e,order:"newest",limit:100})}`}),templates:()=>({templates:"/api/templates"})};function be(e){let t=Object.fromEntries(["agent","team","decision","workflow","gateway","since","until"].map(n=>[n,e?.get(n)??""]));return t.since===""&&(t.since="24h"),t}function Rt({page:e,arg:t,query:n}){switch(e){case"fleet":return P.fleet();case"agents":return t===null?P.agents():P.agent(t);case"approvals":return P.approvals();case"audit":return P.audit(be(n));case"templates":return P.templates();default:return{}}}var Fe=(e,t,n)=>{let o={accept:"application/json"};return n!==void 0&&(o["content-type"]="application/json"),e!=="GET"&&ge!==null&&(o["x-aos-csrf"]=ge),fetch(t,{method:e,headers:o,body:n===void 0?void 0:JSON.stringify(n),credentials:"same-origin"})},X=new Map,je=e=>{let t=Fe("GET",e);t.catch(()=>{}),X.set(e,t)};je("/console/session");for(let e of Object.values(Rt(Y())))je(e);setTimeout(()=>X.clear(),1e4);async function E(e,t,n){e!=="GET"&&X.clear();let o=e==="GET"?X.get(t):void 0;X.delete(t);let a=o===void 0?null:await o.catch(()=>null);(a===null||a.status===401&&t!=="/console/session")&&(a=await Fe(e,t,n));let s=await a.text(),r=s!==""&&(a.headers.get("content-type")??"").includes("json")?JSON.parse(s):null;if(!a.ok)throw a.status===401&&t!=="/console/session"&&window.dispatchEvent(new CustomEvent("aos:signed-out")),new ye(a.status,r?.error?.code??"http_error",r?.error?.message??`${a.status} ${a.statusText}`);return r}var He=e=>E("GET",e);var y,Ge,It,F,ke,ue,Ve,ie,Je,Se,we,Ut,ee=Symbol.for("pv"),de={},pe=[],Lt=/^m(i|n|o|s|text|space)$/,xe=Array.isArray,Ce=pe.slice,z=Object.assign;function J(e){e&&e.parentNode&&e.remove()}function ze(e,t,n){var o,a,s,r={},i=arguments.length;for(s in t)s=="key"?o=t[s]:s=="ref"&&typeof e!="function"?a=t[s]:r[s]=t[s];return i>2&&(r.children=i>3?Ce.call(arguments,2):n),Z(e,r,o,a,null)}function Z(e,t,n,o,a){var s={type:e,props:t,key:n,ref:o,__k:null,__:null,__b:0,__e:null,__c:null,constructor:ee,__v:a||++Ge,__i:-1,__u:0};return!a&&y.vnode&&y.vnode(s),s}function _e(e){return e.children}function le(e,t){this.props=e,this.context=t,this.__g=0}function j(e,t){if(t==null)return e.__&&j(e.__,e.__i+1);for(var n;t<e.__k.length;t++)if((n=e.__k[t])&&n.__e)return n.__e;return typeof e.type!="function"||e.props.__P?null:j(e)}function Nt(e){var t,n=e.__v,o=n.__e,a=[],s=[],r=e.__P;r&&((t=z({constructor:ee},n)).__v=n.__v+1,y.vnode&&y.vnode(t),Te(r,t,n,e.__n,r.namespaceURI,32&n.__u?[o]:null,a,o||j(n),32&n.__u,s),t.__v=n.__v,t.__.__k[t.__i]=t,et(a,t,s),n.__=n.__e=null,t.__e!=o&&Ke(t))}function Ke(e){if((e=e.__)&&e.__c&&!e.props.__P)return e.__e=null,e.__k.some(function(t){return t&&(e.__e=t.__e)}),Ke(e)}function We(e){(8&e.__g||(e.__g|=8,F.push(e),ue++))&&ke==y.debounceRendering||((ke=y.debounceRendering)||queueMicrotask)(Qe)}function Qe(){try{for(var e,t=1;F.length;)F.length>t&&F.sort(Ve),e=F.shift(),t=F.length,8&e.__g&&Nt(e)}finally{(ue=F.length)&&(ke||queueMicrotask)(Qe)}}function Xe(e,t,n,o,a,s,r,i,p,$,l){var f,_,c,d,v,g,b=o.__k||pe,m=t.length;for(p=Mt(n,t,b,p,m),f=0;f<m;f++)(c=n.__k[f])!=null&&(_=~c.__i&&b[c.__i]||de,c.__i=f,g=Te(e,c,_,a,s,r,i,p,$,l),d=c.__e,(_.ref!=c.ref||8&_.__u)&&(_.ref&&Ae(_.ref,null,c,_),c.ref&&l.push(c.ref,c.__c||d,c)),v=v||d,4&c.__u?(p=Ye(c,p,e,!_.__v),_.__e&&(_.__e=null)):typeof c.type=="function"&&g!==void 0?p=g:d&&(p=d.nextSibling),c.__u&=-21);return n.__e=v,p}function Mt(e,t,n,o,a){var s,r,i,p,$,l,f,_,c,d=n.length,v=d,g=0,b=0,m=e.__k=Array(a);for(s=0;s<a;s++)(r=t[s])!=null&&typeof r!="boolean"&&typeof r!="function"?(typeof r!="object"||r.constructor===String?r=m[s]=Z(null,r):xe(r)?r=m[s]=Z(_e,{children:r}):r.constructor===ee&&r.__b?r=m[s]=Z(r.type,r.props,r.key,r.ref,r.__v):m[s]=r,p=s+g,r.__=e,r.__b=e.__b+1,i=null,~($=r.__i=qt(r,n,p,v))&&(v--,(i=n[$])&&(i.__u|=2)),i&&i.__v?(r.__u|=16,$==p-1?g--:$==p+1?g++:$!=p&&($>p?g--:g++,b=1)):(~$||(a>d?g--:a<d&&g++),typeof r.type!="function"&&(r.__u|=4))):m[s]=null;if(b){for(l=[],f=[],s=0;s<a;s++)if((r=m[s])&&16&r.__u){for(g=0,_=l.length;g<_;)l[c=g+_>>1]<r.__i?g=c+1:_=c;l[g]=r.__i,f[s]=g+1}for(g=l.length;s--;)f[s]&&(f[s]==g?g--:m[s].__u|=4)}if(v)for(s=0;s<d;s++)!(i=n[s])||2&i.__u||(i.__e==o&&(o=j(i)),Pe(i,i));return o}function Ye(e,t,n,o){var a,s,r,i;if(typeof e.type=="function"){if(e.props.__P)return t;if(a=e.__k)for(s=0;s<a.length;s++)a[s]&&(a[s].__=e,t=Ye(a[s],t,n,!1));return t}for(t&&!t.parentNode&&(t=j(e))&&!t.parentNode&&(t=null),r=e.__e,i=t;i&&i.nodeType==8;)i=i.nextSibling;for(r!=i&&(!o&&n.moveBefore&&r.parentNode?n.moveBefore(r,t):n.insertBefore(r,t||null)),t=r;(t=t&&t.nextSibling)&&t.nodeType==8&&!t.data.startsWith("$s"););return t}function qt(e,t,n,o){var a,s=e.key,r=e.type,i=t[n],p=i&&!(2&i.__u);if(i===null&&s==null||p&&s==i.key&&r==i.type)return n;if(o>(p?1:0)){for(a=n-1;a>=0;a--)if((i=t[a])&&!(2&i.__u)&&s==i.key&&r==i.type)return a;for(a=n+1;a<t.length;a++)if((i=t[a])&&!(2&i.__u)&&s==i.key&&r==i.type)return a}return-1}function Be(e,t,n){n==null&&(n=""),t[0]=="-"?e.setProperty(t,n):e[t]=n}function re(e,t,n,o,a){var s,r;if(t=="style")if(typeof n=="string")e.style.cssText=n;else{if(typeof o=="string"&&(e.style.cssText=o=""),o)for(t in o)n&&t in n||Be(e.style,t);if(n)for(t in n)o&&n[t]==o[t]||Be(e.style,t,n[t])}else if(t[0]=="o"&&t[1]=="n")typeof n!="function"&&(n=null),typeof o!="function"&&(o=null),(e.__e||(e.__e={}))[t]=n,n&&o||(r=we[t]||(we[t]=Ft(t)),(e.__a||(e.__a={}))[t]=Se,s=t!=(t=t.replace(Je,"$1")),(t=t.slice(2))[0]<"a"&&(t=t.toLowerCase()),n?e.addEventListener(t,r,s):e.removeEventListener(t,r,s));else{if(a=="http://www.w3.org/2000/svg")t=t.replace(/xlink(H|:h)/,"h").replace(/sName$/,"s");else if(t!="width"&&t!="height"&&t!="href"&&t!="list"&&t!="form"&&t!="tabIndex"&&t!="download"&&t!="rowSpan"&&t!="colSpan"&&t!="role"&&t!="popover"&&t in e)try{return void(e[t]=n??"")}catch{}if(typeof n=="function")return;n==null||n===!1&&t[4]!="-"?e.removeAttribute(t):e.setAttribute(t,t=="popover"&&n==1?"":n)}}function Ft(e){return function(t){var n=this.__e;if(n){if(n=n[e],t[ie]==null)t[ie]=Se++;else if(t[ie]<this.__a[e])return;return n(y.event?y.event(t):t)}}}function Te(e,t,n,o,a,s,r,i,p,$){var l,f,_,c,d,v,g,b,m,A,k,ve,Ne,ae,B,Me,q,G,N=t.type;if(t.constructor!==ee)return null;128&n.__u&&(p=32&n.__u,l=n.__c.__z)&&(t.__u|=p,f=s=[],l.nodeType==8?i=ce(l,s):s.push(l),i=s[0]||i),(l=y.__b)&&l(t);e:if(typeof N=="function"){_=r.length;try{if(b=t.props,m=(l=N.prototype)&&l.render,A=(l=N.contextType)&&o[l.__c],k=l?A?A.props.value:l.__:o,(c=n.__c)?(t.__c=c,2&c.__g&&(c.__g|=1)):(m?t.__c=c=new N(b,k):(t.__c=c=new le(b,k),c.constructor=N,c.render=Ht),A&&A.sub(c),c.state||(c.state={}),c.__n=o,c.__g|=8,c.__h=[],c.__k=[]),m&&(c.__s||(c.__s=c.state),N.getDerivedStateFromProps&&(c.__s==c.state&&(c.__s=z({},c.__s)),z(c.__s,N.getDerivedStateFromProps(b,c.__s)))),d=c.props,v=c.state,c.__v=t,n.__c){if(b!==d&&m&&!N.getDerivedStateFromProps&&c.componentWillReceiveProps&&c.componentWillReceiveProps(b,k),t.__v==n.__v&&!(8&c.__g)||!(4&c.__g)&&c.shouldComponentUpdate&&c.shouldComponentUpdate(b,c.__s,k)===!1){t.__v!=n.__v&&(c.props=b,c.state=c.__s,c.__g&=-9),t.__e=n.__e,t.__k=n.__k,t.__k.some(function(R){R&&(R.__=t)}),pe.push.apply(c.__h,c.__k),c.__k=[],c.__h.length&&r.push(c),i=j(n);break e}c.componentWillUpdate&&c.componentWillUpdate(b,c.__s,k),m&&c.componentDidUpdate&&c.__h.push(function(){c.componentDidUpdate(d,v,g)})}else m&&!N.getDerivedStateFromProps&&c.componentWillMount&&c.componentWillMount(),m&&c.componentDidMount&&c.__h.push(c.componentDidMount);c.context=k,c.props=b,c.__P=e,c.__g&=-5,ve=y.__r,Ne=m?25:0;do c.__g&=-9,ve&&ve(t),l=c.render(c.props,c.state=c.__s,c.context);while(8&c.__g&&++Ne<25);m&&(pe.push.apply(c.__h,c.__k),c.__k=[]),c.state=c.__s,c.getChildContext&&(o=z({},o,c.getChildContext())),m&&n.__c&&c.getSnapshotBeforeUpdate&&(g=c.getSnapshotBeforeUpdate(d,v)),ae=l&&l.type===_e&&l.key==null?l.props.children:l,b.__P&&(l=i,a=(e=b.__P).namespaceURI,p=s=null,n.props&&n.props.__P!=e&&(n.__k.some(function(R){R&&Pe(R,R)}),n.__k=null),i=n.__k?j(n,0):null),i=Xe(e,xe(ae)?ae:[ae],t,n,o,a,s,r,i,p,$),b.__P&&(t.__e=null,i=l),t.__u&=-161,f&&f.some(J),c.__h.length&&r.push(c),1&c.__g&&(c.__g&=-4)}catch(R){if(r.length=_,t.__v=null,p||s)if(R&&R.then){if(t.__u|=128|p,s){for(~(q=s.indexOf(i||void 0))||(q=s.length);(G=s[q-1])&&G.nodeType==8;)q--;for(;q<s.length;q++)if(G=s[q])if(s[q]=null,B){if(G==Me)break}else{if(G.nodeType!=8)break;G.data.startsWith("$s")&&(Me=ce(B=G))}}if(!B){for(;i&&i.nodeType==8&&i.nextSibling;)i=i.nextSibling;B=i}(l=ce(B=t.__c.__z||(t.__c.__z=B)))?(t.__e=B,i=l):t.__e=i,i=i&&i.nextSibling}else s&&s.some(J);else t.__e=n.__e;t.__k||(t.__k=n.__k||[]),R&&R.then||Ze(t),y.__e(R,t,n)}}else i=t.__e=jt(n.__e,t,n,o,a,s,r,p,$,e);return(l=y.diffed)&&l(t),i}function ce(e,t){if(e&&e.nodeType==8&&e.data.startsWith("$s"))for(var n=1;e=e.nextSibling;){if(e.nodeType==8){if(e.data.startsWith("$s"))n++;else if(e.data.startsWith("/$s")&&!--n)return e}t&&t.push(e)}}function Ze(e){e&&(e.__c&&(e.__c.__g|=4),e.__k&&e.__k.some(Ze))}function et(e,t,n){for(var o=0;o<n.length;)Ae(n[o++],n[o++],n[o++]);y.__c&&y.__c(t,e),e.some(function(a){try{e=a.__h,a.__h=[],e.some(function(s){s.call(a)})}catch(s){y.__e(s,a.__v)}})}function jt(e,t,n,o,a,s,r,i,p,$){var l,f,_,c,d,v,g,b,m=n.props||de,A=t.props,k=t.type;if(k=="svg"?a="http://www.w3.org/2000/svg":k=="math"?a="http://www.w3.org/1998/Math/MathML":a||(a="http://www.w3.org/1999/xhtml"),s){for(l=0;l<s.length;l++)if((d=s[l])&&(k?d.localName==k:d.nodeType==3)){e=d,s[l]=null;break}}if(!e){if(b=$.ownerDocument||document,!k)return b.createTextNode(A);e=b.createElementNS(a,k,A.is?A:$),i&&(y.__m&&y.__m(t,s),i=!1),s=null}if(k){if($=k=="template"&&e.content||e,s=k=="textarea"&&A.defaultValue!=null?null:s&&Ce.call($.childNodes),!i&&s)for(m={},l=0;l<e.attributes.length;l++)m[(d=e.attributes[l]).name]=d.value;for(l in m)d=m[l],l=="dangerouslySetInnerHTML"?_=d:l=="children"||l in A||l=="value"&&"defaultValue"in A||l=="checked"&&"defaultChecked"in A||re(e,l,null,d,a);for(l in A)d=A[l],l=="children"?c=d:l=="dangerouslySetInnerHTML"?f=d:l=="value"?v=d:l=="checked"?g=d:i&&typeof d!="function"||m[l]===d||re(e,l,d,m[l],a);f?(i||_&&(f.__html==_.__html||f.__html==e.innerHTML)||(e.innerHTML=f.__html),t.__k=[]):(_&&(e.textContent=""),(k=="foreignObject"||a=="http://www.w3.org/1998/Math/MathML"&&Lt.test(k))&&(a="http://www.w3.org/1999/xhtml"),Xe($,xe(c)?c:[c],t,n,o,a,s,r,s?s[0]:n.__k&&j(n,0),i,p),s&&s.some(J)),i&&k!="textarea"||(l="value",k=="progress"&&v==null?e.removeAttribute(l):v==null||v===e[l]&&(k!="progress"||v)||re(e,l,v,m[l],a),l="checked",g!=null&&g!=e[l]&&re(e,l,g,m[l],a))}else m===A||i&&e.data==A||(e.data=A);return e}function Ae(e,t,n,o){try{typeof e=="function"?t?t.__x=e(t)||1:o&&(o=o.__c||o.__e)&&(t=o.__x)&&(o.__x=null,typeof t=="function"?t():e(null)):e.current=t}catch(a){y.__e(a,n)}}function Pe(e,t,n){var o,a,s,r;if(y.unmount&&y.unmount(e),!(o=e.ref)||o.current&&o.current!=e.__e||Ae(o,null,t,e),o=e.__c){if(o.componentWillUnmount)try{o.componentWillUnmount()}catch(i){y.__e(i,t)}o.__P=o.__n=null}if(o=e.__k)for(r=0;r<o.length;r++)o[r]&&Pe(o[r],t,typeof e.type!="function"||n&&!e.props.__P);!n&&(o=e.__c)&&(o=o.__z)&&(a=ce(o,s=[]))&&(o==e.__e&&s.some(J),J(a),J(o)),n||J(e.__e),e.__e=e.__c=e.__=null}function Ht(e,t,n){return this.constructor(e,n)}function tt(e,t){var n,o,a,s;y.__&&y.__(e,t),t.nodeType==9&&(t=t.documentElement),o=(n=e&&32&e.__u)?null:t.__k,t.__k=Z(_e,{children:[e]}),a=[],s=[],Te(t,t.__k,o||de,de,t.namespaceURI,o?null:t.firstChild?Ce.call(t.childNodes):null,a,o?o.__e:t.firstChild,n,s),et(a,t.__k,s),t.__k.props.children=null}y={__e:function(e,t,n,o){for(var a,s,r;t=t.__;)if((a=t.__c)&&!(1&a.__g)){a.__g|=4;try{if((r=(s=a.constructor)&&s.getDerivedStateFromError)&&a.setState(s.getDerivedStateFromError(e)),a.componentDidCatch&&(a.componentDidCatch(e,o||{}),r=1),r&&8&a.__g)return void(a.__g|=2)}catch(i){e=i}}throw ue=0,e}},Ge=0,It=function(e){return e!=null&&e.constructor===ee},le.prototype.setState=function(e,t){var n=this.__s;n&&n!=this.state||(n=this.__s=z({},this.state)),typeof e=="function"&&(e=e(z({},n),this.props)),e&&(z(n,e),this.__v&&(t&&this.__k.push(t),We(this)))},le.prototype.forceUpdate=function(e){this.__v&&(this.__g|=4,e&&this.__h.push(e),We(this))},le.prototype.render=_e,F=[],ue=0,Ve=function(e,t){return e.__v.__b-t.__v.__b},ie=Symbol(),Je=/(PointerCapture)$|Capture$/i,Se=0,we={},Ut=0;var Q,T,Ee,nt,De=Object.is,ne=0,dt=[],Oe=[],w=y,ot=w.__b,st=w.__r,at=w.diffed,rt=w.__c,it=w.unmount,lt=w.__;function fe(e,t){w.__h&&w.__h(T,e,ne||t),ne=0;var n=T.__H||(T.__H={__:[],__h:[]});return e>=n.__.length&&n.__.push({}),n.__[e]}function h(e){return ne=1,Wt(_t,e)}function Wt(e,t,n){var o=fe(Q++,2);if(o.t=e,!o.__c&&(o.__=[n?n(t):_t(void 0,t),function(s){var r=(o.__N||o.__)[0],i=o.t(r,s);De(r,i)||(o.__N=[i,o.__[1]],o.__c.setState({}))}],o.__c=T,!T.__f)){T.__f=!0;var a=T.shouldComponentUpdate;T.shouldComponentUpdate=function(s,r,i){var p=this.__H;if(!p)return!0;var $=!1,l=this.props!=s;if(p.__.some(function(_){_.__N&&($=!0,De(_.__[0],_.__N[0])||(l=!0))}),a){var f=a.call(this,s,r,i);return $?f||l:f}return!$||l}}return o.__}function M(e,t){var n=fe(Q++,3);!w.__s&&Ie(n.__H,t)&&(n.__P=!0,n.__=e,n.u=t,T.__H.__h.push(n))}function $e(e,t){var n=fe(Q++,4);!w.__s&&Ie(n.__H,t)&&(n.__P=!1,n.__=e,n.u=t,T.__h.push(n))}function H(e){return ne=5,oe(function(){return{current:e}},[])}function oe(e,t){var n=fe(Q++,7);return Ie(n.__H,t)&&(n.__=e(),n.__H=t),n.__}function pt(e,t){return ne=8,oe(function(){return e},t)}function Bt(){var e;do{for(;e=Oe.shift();)try{te(e)}catch(n){w.__e(n,{__:(e=e.__P)&&e.__v})}for(;e=dt.shift();){var t=e.__H;if(e.__P&&t)try{t.__h.some(te),t.__h.some(Re),t.__h=[]}catch(n){t.__h=[],w.__e(n,e.__v)}}}while(Oe.length)}w.__b=function(e){T=null,ot&&ot(e)},w.__=function(e,t){e&&t.__k&&t.__k.__m&&(e.__m=t.__k.__m),lt&&lt(e,t)},w.__r=function(e){st&&st(e),Q=0;var t=(T=e.__c).__H;t&&(Ee==T?T.__h=[]:(t.__h.some(te),t.__h.some(Re),Q=0),t.__h=[],t.__.some(function(n){n.__N&&(n.__=n.__N),n.u=n.__N=void 0})),Ee=T},w.diffed=function(e){at&&at(e);var t=e.__c;t&&t.__H&&(t.__H.__h.length&&ut(dt.push(t)),t.__H.__.some(function(n){n.u&&(n.__H=n.u)})),Ee=T=null},w.__c=function(e,t){t.some(function(n){try{n.__h.some(te),n.__h=n.__h.filter(function(o){return!o.__||Re(o)})}catch(o){n.__h=[function(){throw o}]}}),rt&&rt(e,t)},w.unmount=function(e){it&&it(e);var t,n,o=e.__c;o&&o.__H&&(o.__H.__.some(function(a){try{if(a.__P&&a.__c){if(n===void 0){for(n=e.__;n&&(!n.__c||!n.__c.__P);)n=n.__;n=n&&n.__c}a.__P=n,ut(Oe.push(a))}else te(a)}catch(s){t=s}}),o.__H=void 0,t&&w.__e(t,o.__v))};var ct=typeof requestAnimationFrame=="function";function Gt(e){var t,n=function(){clearTimeout(o),ct&&cancelAnimationFrame(t),setTimeout(e)},o=setTimeout(n,35);ct&&(t=requestAnimationFrame(n))}function ut(e){e!=1&&nt==w.requestAnimationFrame||((nt=w.requestAnimationFrame)||Gt)(Bt)}function te(e){var t=T,n=e.__c;typeof n=="function"&&(e.__c=void 0,n()),T=t}function Re(e){var t=T;e.__c=e.__(),T=t}function Ie(e,t){return!e||e.length!=t.length||t.some(function(n,o){return!De(n,e[o])})}function _t(e,t){return typeof t=="function"?t(e):t}var $t=function(e,t,n,o){var a;t[0]=0;for(var s=1;s<t.length;s++){var r=t[s++],i=t[s]?(t[0]|=r?1:2,n[t[s++]]):t[++s];r===3?o[0]=i:r===4?o[1]=Object.assign(o[1]||{},i):r===5?(o[1]=o[1]||{})[t[++s]]=i:r===6?o[1][t[++s]]+=i+"":r?(a=e.apply(i,$t(e,i,n,["",null])),o.push(a),i[0]?t[0]|=2:(t[s-2]=0,t[s]=a)):o.push(i)}return o},ft=new Map;function ht(e){var t=ft.get(this);return t||(t=new Map,ft.set(this,t)),(t=$t(this,t.get(e)||(t.set(e,t=(function(n){for(var o,a,s=1,r="",i="",p=[0],$=function(_){s===1&&(_||(r=r.replace(/^\s*\n\s*|\s*\n\s*$/g,"")))?p.push(0,_,r):s===3&&(_||r)?(p.push(3,_,r),s=2):s===2&&r==="..."&&_?p.push(4,_,0):s===2&&r&&!_?p.push(5,0,!0,r):s>=5&&((r||!_&&s===5)&&(p.push(s,0,r,a),s=6),_&&(p.push(s,_,0,a),s=6)),r=""},l=0;l<n.length;l++){l&&(s===1&&$(),$(l));for(var f=0;f<n[l].length;f++)o=n[l][f],s===1?o==="<"?($(),p=[p],s=3):r+=o:s===4?r==="--"&&o===">"?(s=1,r=""):r=o+r[0]:i?o===i?i="":r+=o:o==='"'||o==="'"?i=o:o===">"?($(),s=1):s&&(o==="="?(s=5,a=r,r=""):o==="/"&&(s<5||n[l][f+1]===">")?($(),s===3&&(p=p[0]),s=p,(p=p[0]).push(2,0,s),s=0):o===" "||o==="	"||o===`
`||o==="\r"?($(),s=2):r+=o),s===3&&r==="!--"&&(s=4,p=p[0])}return $(),p})(e)),t),arguments,[])).length>1?t:t[0]}var u=ht.bind(ze),mt=["viewer","operator","approver","admin"],W=(e,t)=>mt.indexOf(e.role)>=mt.indexOf(t),I=e=>e==null?"\u2013":e>=100?`$${e.toFixed(0)}`:e>=1?`$${e.toFixed(2)}`:`$${e.toFixed(4)}`,Vt=new Intl.NumberFormat("en"),S=e=>e==null?"\u2013":Vt.format(e),he=(e,t)=>t===0?"0%":`${(100*e/t).toFixed(1)}%`;function U({time:e}){if(e==null)return u`<span>–</span>`;let t=Date.now()-Date.parse(e),n=t<6e4?`${Math.max(0,Math.round(t/1e3))} s ago`:t<36e5?`${Math.round(t/6e4)} min ago`:t<864e5?`${Math.round(t/36e5)} h ago`:e.slice(0,10);return u`<time datetime=${e} title=${e}>${n}</time>`}function x(e,t=0){let[n,o]=h({data:null,error:null}),[a,s]=h(0),r=pt(()=>s(i=>i+1),[]);return $e(()=>{if(e===null)return;let i=!0;return He(e).then(p=>i&&o({data:p,error:null}),p=>i&&o($=>({data:$.data,error:p}))),()=>{i=!1}},[e,a,t]),{...n,reload:r}}function se(e,t){let n=H(e);n.current=e,M(()=>{let o=setInterval(()=>n.current(),t);return()=>clearInterval(o)},[t])}function D({error:e}){return e==null?null:u`<p class="error" role="alert">${e.code?`${e.code}: `:""}${e.message}</p>`}var O=()=>u`<p class="muted" role="status">Loading…</p>`;function L({id:e,label:t,actions:n,onDone:o,children:a}){let[s,r]=h(""),[i,p]=h(!1),[$,l]=h(null),f=async(_,c)=>{if(_.preventDefault(),s.trim()===""){l({error:!0,text:"Say why: the reason is recorded with the change."});return}p(!0);try{await c.act(s.trim()),l({error:!1,text:c.done}),r(""),o?.()}catch(d){l({error:!0,text:`${d.code??"error"}: ${d.message}`})}finally{p(!1)}};return u`<form class="reason-form" onSubmit=${_=>f(_,n[0])} aria-label=${t}>
    ${a}
    <label for=${`${e}-reason`}>Reason</label>
    <input id=${`${e}-reason`} name="reason" required value=${s} onInput=${_=>r(_.currentTarget.value)} placeholder="why (recorded)" />
    ${n.map((_,c)=>u`<button type=${c===0?"submit":"button"} class=${_.danger?"danger":""} disabled=${i} onClick=${c===0?void 0:d=>f(d,_)}>${_.label}</button>`)}
    <span role="status" class=${$?.error?"error":"ok"}>${$?.text??""}</span>
  </form>`}var C=({kind:e,children:t})=>u`<span class=${`badge ${e}`}>${t}</span>`;function vt({value:e}){return u`<pre class="json">${JSON.stringify(e,null,2)}</pre>`}var gt=null,me=()=>(gt??=import("./uPlot.esm-ULJJVTMH.js").then(e=>e.default),gt),yt=["#0b57d0","#b3261e","#6b4f00"];function K({title:e,points:t,series:n,format:o=a=>String(a)}){let a=H(null),s=H(null),r=[t.map($=>$.t/1e3),...n.map($=>t.map(l=>l[$.key]))],i=n.map($=>`${$.label} ${o(t.reduce((l,f)=>l+f[$.key],0))}`).join(", "),p=H(r);return p.current=r,M(()=>{let $=!1;return me().then(l=>{if($)return;let f=Math.max(240,a.current.clientWidth);s.current=new l({width:f,height:160,legend:{show:!0},cursor:{drag:{x:!1,y:!1}},scales:{x:{time:!0}},axes:[{stroke:"#444"},{stroke:"#444",size:60,values:(_,c)=>c.map(o)}],series:[{},...n.map((_,c)=>({label:_.label,stroke:yt[c%yt.length],width:2,value:(d,v)=>v===null?"\u2013":o(v)}))]},p.current,a.current)}),()=>{$=!0,s.current?.destroy(),s.current=null}},[n.map($=>$.key).join()]),M(()=>{s.current?.setData(r)}),u`<figure class="chart">
    <figcaption>${e} <span class="muted">(${i})</span></figcaption>
    <div ref=${a} role="img" aria-label=${`${e}: ${i}`}></div>
  </figure>`}var Ue=100,Jt=(e,t)=>{if(t==="")return!0;let n=`${e.id} ${e.team} ${e.template} ${e.owner??""} ${Object.entries(e.labels).map(([o,a])=>`${o}=${a}`).join(" ")}`.toLowerCase();return t.toLowerCase().split(/\s+/).every(o=>n.includes(o))};function bt(){let{data:e,error:t}=x(P.agents().agents),[n,o]=h(""),[a,s]=h(""),[r,i]=h(""),p=e?.agents??[],$=oe(()=>[...new Set(p.map(f=>f.team))].sort(),[p]),l=oe(()=>p.filter(f=>(a===""||f.team===a)&&(r===""||f.status===r)&&Jt(f,n.trim())),[p,n,a,r]);return e===null?t?u`<${D} error=${t} />`:u`<${O} />`:u`<h1>Agents</h1>
    <form class="filters" role="search" onSubmit=${f=>f.preventDefault()}>
      <label for="agent-search">Search</label>
      <input id="agent-search" type="search" value=${n} onInput=${f=>o(f.currentTarget.value)} placeholder="id, team, template, owner, label=value" />
      <label for="agent-team">Team</label>
      <select id="agent-team" value=${a} onChange=${f=>s(f.currentTarget.value)}>
        <option value="">all</option>
        ${$.map(f=>u`<option value=${f}>${f}</option>`)}
      </select>
      <label for="agent-status">Status</label>
      <select id="agent-status" value=${r} onChange=${f=>i(f.currentTarget.value)}>
        <option value="">all</option><option value="active">active</option><option value="suspended">suspended</option>
      </select>
    </form>
    <p role="status" class="muted">${S(l.length)} of ${S(p.length)} agents${l.length>Ue?`, the first ${Ue} shown: narrow the search`:""}</p>
    <table>
      <caption class="sr-only">Agents</caption>
      <thead><tr><th scope="col">Agent</th><th scope="col">Team</th><th scope="col">Template</th><th scope="col">Status</th><th scope="col" class="n">Calls</th><th scope="col" class="n">Errors</th><th scope="col" class="n">Denied</th><th scope="col" class="n">Spend</th><th scope="col">Last call</th></tr></thead>
      <tbody>
        ${l.slice(0,Ue).map(f=>u`<tr>
            <th scope="row"><a href=${`#/agents/${encodeURIComponent(f.id)}`}>${f.id}</a></th>
            <td>${f.team}</td><td>${f.template}@${f.version??"?"}</td>
            <td>${f.status==="suspended"?u`<${C} kind="bad">suspended<//>`:u`<${C} kind="ok">active<//>`}</td>
            <td class="n">${S(f.counters.calls)}</td><td class="n">${S(f.counters.errors)}</td><td class="n">${S(f.counters.denied)}</td><td class="n">${I(f.counters.spendUsd)}</td>
            <td><${U} time=${f.counters.lastCall} /></td>
          </tr>`)}
      </tbody>
    </table>`}function Le({events:e,caption:t,onOpen:n}){return e.length===0?u`<p class="muted">No calls.</p>`:u`<table>
    <caption>${t}</caption>
    <thead><tr><th scope="col">Time</th><th scope="col">Agent</th><th scope="col">Decision</th><th scope="col">Status</th><th scope="col">Route</th><th scope="col">Model or tool</th><th scope="col" class="n">Cost</th><th scope="col">Gateway · seq</th></tr></thead>
    <tbody>
      ${e.map(o=>u`<tr>
          <td><${U} time=${o.time} /></td>
          <td>${o.agent_id??"\u2013"}</td>
          <td>${o.decision==="deny"?u`<${C} kind="bad">deny<//>`:o.decision}/${o.outcome}${o.error_code?u` <code>${o.error_code}</code>`:""}</td>
          <td>${o.status??"\u2013"}</td>
          <td>${o.route??o.path}</td>
          <td>${o.tool??o.model??"\u2013"}</td>
          <td class="n">${I(o.cost_usd)}</td>
          <td>${n?u`<button type="button" class="link" onClick=${()=>n(o)} aria-label=${`open event ${o.gateway} seq ${o.seq}`}>${o.gateway} · ${o.seq}</button>`:`${o.gateway} \xB7 ${o.seq}`}</td>
        </tr>`)}
    </tbody>
  </table>`}function zt({template:e}){let t=e?.template?.budget;return t?u`<dl class="facts">${Object.entries(t).map(([n,o])=>u`<div><dt>${n}</dt><dd>${n.endsWith("usd")?I(o):o}</dd></div>`)}</dl>`:u`<p class="muted">The template sets no budget of its own.</p>`}function kt({session:e,id:t}){let[n,o]=h(0),a=()=>o(d=>d+1),s=P.agent(t),r=x(s.agent,n),i=x(s.calls,n),p=x(s.series,n),$=x(s.kills,n),l=r.data?.agent,f=x(l?`/api/templates/${encodeURIComponent(l.template)}/versions/${l.version}`:null);if(!l)return r.error?u`<${D} error=${r.error} />`:u`<${O} />`;let _=($.data?.kills??[]).filter(d=>d.scope==="agent"&&d.value===l.id||d.scope==="team"&&d.value===l.team||d.scope==="template"&&d.value===l.template||d.scope==="all"),c=`/api/agents/${encodeURIComponent(l.id)}`;return u`<h1>Agent ${l.id}</h1>
    <p>${l.status==="suspended"?u`<${C} kind="bad">suspended<//> by ${l.suspension.actor}: ${l.suspension.reason}`:u`<${C} kind="ok">active<//>`}
      ${_.length>0?u` <${C} kind="bad">kill switch: ${_.map(d=>d.scope).join(", ")}<//>`:""}</p>
    <dl class="facts">
      <div><dt>Team</dt><dd>${l.team}</dd></div>
      <div><dt>Template</dt><dd><a href=${`#/templates/${encodeURIComponent(l.template)}`}>${l.template}</a> version ${l.version??"?"}${l.pinned===null?" (follows the active one)":" (pinned)"}</dd></div>
      <div><dt>Owner</dt><dd>${l.owner??"\u2013"}</dd></div>
      <div><dt>Labels</dt><dd>${Object.entries(l.labels).map(([d,v])=>`${d}=${v}`).join(", ")||"\u2013"}</dd></div>
      <div><dt>Calls</dt><dd>${S(l.counters.calls)}</dd></div>
      <div><dt>Errors / denied</dt><dd>${S(l.counters.errors)} / ${S(l.counters.denied)}</dd></div>
      <div><dt>Spend (all time)</dt><dd>${I(l.counters.spendUsd)}</dd></div>
      <div><dt>Last call</dt><dd><${U} time=${l.counters.lastCall} /></dd></div>
    </dl>
    <h2>Budget</h2>
    <${zt} template=${f.data} />
    ${W(e,"operator")?u`<h2>Act</h2>
          ${l.status==="suspended"?u`<${L} id="resume" label="Resume the agent" onDone=${a} actions=${[{label:"Resume",done:"Resumed.",act:d=>E("POST",`${c}/resume`,{reason:d})}]} />`:u`<${L} id="suspend" label="Suspend or kill the agent" onDone=${a} actions=${[{label:"Suspend",danger:!0,done:"Suspended: its next call is refused on every gateway.",act:d=>E("POST",`${c}/suspend`,{reason:d})},{label:"Kill (cut live calls)",danger:!0,done:"Killed: new calls refused, live ones cut.",act:d=>E("POST","/api/kills",{scope:"agent",value:l.id,live:"cut",reason:d})}]} />`}
          ${_.filter(d=>d.scope==="agent").map(d=>u`<${L} id=${`lift-${d.id}`} label=${`Lift kill switch ${d.id}`} onDone=${a} actions=${[{label:`Lift kill ${d.id}`,done:"Lifted.",act:v=>E("DELETE",`/api/kills/${encodeURIComponent(d.id)}`,{reason:v})}]} />`)}`:null}
    <h2>Last 24 hours</h2>
    ${p.data?u`<div class="charts"><${K} title="Calls" points=${p.data.points} series=${[{key:"calls",label:"calls"},{key:"denied",label:"denied"}]} format=${S} /><${K} title="Spend" points=${p.data.points} series=${[{key:"spendUsd",label:"spend"}]} format=${I} /></div>`:u`<${O} />`}
    <h2>Recent calls</h2>
    ${i.data?u`<${Le} events=${i.data.events} caption="The last 50 calls" />`:u`<${D} error=${i.error} />`}
    <p><a href=${`#/audit?agent=${encodeURIComponent(l.id)}`}>All of this agent's calls in the audit explorer</a></p>`}var Kt={approved:"ok",used:"ok",denied:"bad",expired:"warn",pending:"warn"};function Qt({a:e,session:t,onDone:n}){let o=e.request??{},a=o.findings??[];return u`<article class="card" aria-labelledby=${`ap-${e.id}`}>
    <h3 id=${`ap-${e.id}`}>${o.method??""} ${o.tool?`${o.tool}.${o.operation??""}`:o.path??e.id}</h3>
    <dl class="facts">
      <div><dt>Agent</dt><dd>${e.agentId?u`<a href=${`#/agents/${encodeURIComponent(e.agentId)}`}>${e.agentId}</a>`:"\u2013"}</dd></div>
      <div><dt>Kind</dt><dd>${o.kind??"\u2013"}</dd></div>
      <div><dt>Path</dt><dd>${o.path??"\u2013"}</dd></div>
      <div><dt>Gateway</dt><dd>${e.gateway??"\u2013"}</dd></div>
      <div><dt>Asked</dt><dd><${U} time=${e.createdAt} /></dd></div>
      <div><dt>Decide before</dt><dd>${e.expiresAt??"\u2013"}</dd></div>
      <div><dt>Approval id</dt><dd><code>${e.id}</code></dd></div>
    </dl>
    <h4>Findings</h4>
    ${a.length===0?u`<p class="muted">none</p>`:u`<ul>${a.map(s=>u`<li>${s.detector} (${s.severity}) at ${s.path}</li>`)}</ul>`}
    <h4>What was asked (redacted)</h4>
    <${vt} value=${o.arguments??o} />
    ${W(t,"approver")?u`<${L} id=${`decide-${e.id}`} label=${`Decide approval ${e.id}`} onDone=${n} actions=${[{label:"Approve",done:"Approved.",act:s=>E("POST",`/api/approvals/${encodeURIComponent(e.id)}/approve`,{reason:s})},{label:"Deny",danger:!0,done:"Denied.",act:s=>E("POST",`/api/approvals/${encodeURIComponent(e.id)}/deny`,{reason:s})}]} />`:u`<p class="muted">Deciding needs the approver role.</p>`}
  </article>`}function wt({session:e}){let[t,n]=h(0),o=()=>n(p=>p+1);se(o,3e3);let{data:a,error:s}=x(P.approvals().approvals,t);if(a===null)return s?u`<${D} error=${s} />`:u`<${O} />`;let r=a.approvals.filter(p=>p.status==="pending"),i=a.approvals.filter(p=>p.status!=="pending").reverse();return u`<h1>Approvals</h1>
    <h2>Pending <span class="muted">(${r.length})</span></h2>
    ${r.length===0?u`<p class="muted">Nothing waits for a decision.</p>`:r.map(p=>u`<${Qt} key=${p.id} a=${p} session=${e} onDone=${o} />`)}
    <h2>History</h2>
    <table>
      <caption class="sr-only">Decided approvals, newest first</caption>
      <thead><tr><th scope="col">Asked</th><th scope="col">Agent</th><th scope="col">What</th><th scope="col">Status</th><th scope="col">By</th><th scope="col">Reason</th><th scope="col">Decided</th></tr></thead>
      <tbody>
        ${i.slice(0,200).map(p=>u`<tr>
            <td><${U} time=${p.createdAt} /></td><td>${p.agentId??"\u2013"}</td>
            <td>${p.request?.method??""} ${p.request?.tool?`${p.request.tool}.${p.request.operation??""}`:p.request?.path??""}</td>
            <td><${C} kind=${Kt[p.status]??"warn"}>${p.status}<//></td><td>${p.decidedBy??"\u2013"}</td><td>${p.reason??"\u2013"}</td><td><${U} time=${p.decidedAt} /></td>
          </tr>`)}
      </tbody>
    </table>`}var Xt=[["agent","Agent"],["team","Team"],["workflow","Workflow"],["gateway","Gateway"]];function Yt({e,onClose:t}){return u`<section class="card" aria-labelledby="event-title">
    <h2 id="event-title">Event ${e.id}</h2>
    <button type="button" onClick=${t}>Close</button>
    <dl class="facts">
      ${Object.entries(e).filter(([,n])=>n!==null&&typeof n!="object").map(([n,o])=>u`<div><dt>${n}</dt><dd>${String(o)}</dd></div>`)}
    </dl>
    <h3>Reasons, findings, approval</h3>
    <pre class="json">${JSON.stringify({reasons:e.reasons,findings:e.findings,flags:e.flags,approval:e.approval??null,capture:e.capture},null,2)}</pre>
  </section>`}function Zt(){let[e,t]=h(0),{data:n,error:o}=x(e===0?null:"/api/audit/verify",e);return u`<section aria-labelledby="verify-title">
    <h2 id="verify-title">Chain verification</h2>
    <button type="button" onClick=${()=>t(a=>a+1)}>Verify every gateway's chain</button>
    <${D} error=${o} />
    ${n===null?null:u`<table>
      <caption>${n.ok?"Every chain verifies":"A chain is broken"}</caption>
      <thead><tr><th scope="col">Gateway</th><th scope="col">Status</th><th scope="col" class="n">Records checked</th><th scope="col" class="n">Head seq</th><th scope="col">Broken at</th></tr></thead>
      <tbody>${n.gateways.map(a=>u`<tr><th scope="row">${a.gateway}</th><td>${a.ok?u`<${C} kind="ok">verified<//>`:u`<${C} kind="bad">broken<//>`}</td>
          <td class="n">${S(a.checked)}</td><td class="n">${S(a.headSeq)}</td><td>${a.broken?`seq ${a.broken.seq}: ${a.broken.message}`:"\u2013"}</td></tr>`)}</tbody>
    </table>`}
  </section>`}function St({query:e}){let t=be(e),[n,o]=h(t),[a,s]=h(t),[r,i]=h(null),{data:p,error:$}=x(P.audit(a).events),l=_=>c=>o({...n,[_]:c.currentTarget.value}),f=V(a);return u`<h1>Audit</h1>
    <form class="filters" role="search" onSubmit=${_=>{_.preventDefault(),i(null),s(n)}}>
      ${Xt.map(([_,c])=>u`<label for=${`f-${_}`}>${c}</label><input id=${`f-${_}`} value=${n[_]} onInput=${l(_)} />`)}
      <label for="f-decision">Decision</label>
      <select id="f-decision" value=${n.decision} onChange=${l("decision")}><option value="">any</option><option>allow</option><option>deny</option><option>none</option></select>
      <label for="f-since">Since</label>
      <input id="f-since" value=${n.since} onInput=${l("since")} placeholder="15m, 2h, 7d or ISO time" />
      <label for="f-until">Until</label>
      <input id="f-until" value=${n.until} onInput=${l("until")} placeholder="ISO time (empty: now)" />
      <button type="submit">Search</button>
    </form>
    <p>Export what these filters match: <a href=${`/api/audit/export${f}${f?"&":"?"}format=jsonl`} download="aos-audit.jsonl">JSON lines</a> · <a href=${`/api/audit/export${f}${f?"&":"?"}format=csv`} download="aos-audit.csv">CSV</a></p>
    <${D} error=${$} />
    ${r===null?null:u`<${Yt} e=${r} onClose=${()=>i(null)} />`}
    ${p===null?u`<${O} />`:u`<${Le} events=${p.events} caption=${`${p.events.length===100?"The newest 100":p.events.length} matching calls`} onOpen=${i} />`}
    <${Zt} />`}function en(){let[e,t]=h({summary:null,connected:!1});return M(()=>{let n=new EventSource("/api/live");return n.addEventListener("fleet",o=>t({summary:JSON.parse(o.data),connected:!0})),n.onerror=()=>t(o=>({...o,connected:!1})),()=>n.close()},[]),e}function tn({s:e}){let t=e.lastMinute,n=[["Gateways connected",`${e.counts.connected} / ${e.counts.connected+e.counts.disconnected}`],["Out of sync",S(e.counts.outOfSync)],["Calls/s (last minute)",(t.calls/60).toFixed(2)],["Error rate",he(t.errors,t.calls)],["Denied (last minute)",S(t.denied)],["Spend (last minute)",I(t.spendUsd)],["Pending approvals",S(e.pendingApprovals)],["Fleet version",S(e.version)]];return u`<dl class="tiles">${n.map(([o,a])=>u`<div><dt>${o}</dt><dd>${a}</dd></div>`)}</dl>`}function nn({s:e}){return e.gateways.length===0?u`<p class="muted">No gateway has said hello yet.</p>`:u`<table>
    <caption>Gateways</caption>
    <thead><tr><th scope="col">Gateway</th><th scope="col">State</th><th scope="col">Version</th><th scope="col">Snapshot applied</th><th scope="col">Policy</th><th scope="col">Audit seq</th><th scope="col">Last seen</th></tr></thead>
    <tbody>
      ${e.gateways.map(t=>u`<tr>
          <th scope="row">${t.id}</th>
          <td>${t.revokedAt?u`<${C} kind="bad">revoked<//>`:t.connected?u`<${C} kind="ok">connected<//>`:u`<${C} kind="warn">disconnected<//>`}</td>
          <td>${t.version}</td>
          <td>${t.snapshotVersion}${t.snapshotVersion<e.version?u` <${C} kind="warn">behind ${e.version}<//>`:""}${t.snapshotError?u` <${C} kind="bad" title=${t.snapshotError}>refused<//>`:""}</td>
          <td>${t.policyRevision??"\u2013"}</td>
          <td>${S(t.auditSeq)}</td>
          <td><${U} time=${t.lastSeen} /></td>
        </tr>`)}
    </tbody>
  </table>`}function on(){let[e,t]=h(0);se(()=>t(_=>_+1),15e3);let n=P.fleet(),o=x(n.budgets,e),a=x(n.today,e),s=x(n.month,e);if(o.data===null||a.data===null||s.data===null)return u`<${D} error=${o.error??a.error??s.error} />`;let{base:r,overrides:i}=o.data,p=(_,c)=>i[_]??c??null,$=new Map(a.data.rows.map(_=>[_.key,_.spendUsd])),l=new Set([...Object.keys(r?.teams??{}),...$.keys()].filter(_=>_!==null)),f=[["org (this month)",s.data.total.spendUsd,p("org|usd|monthly",r?.org?.monthly_usd)],...[...l].sort().map(_=>[`team ${_} (today)`,$.get(_)??0,p(`team:${_}|usd|daily`,r?.teams?.[_]?.daily_usd)])];return u`<table>
    <caption>Spend against budgets</caption>
    <thead><tr><th scope="col">Scope</th><th scope="col">Spent</th><th scope="col">Budget</th><th scope="col">Used</th></tr></thead>
    <tbody>
      ${f.map(([_,c,d])=>u`<tr>
          <th scope="row">${_}</th><td>${I(c)}</td><td>${d===null?"none":I(d)}</td>
          <td>${d===null?"\u2013":u`<progress max=${d} value=${Math.min(c,d)} aria-label=${`${_}: ${he(c,d)} of the budget`}></progress> ${he(c,d)}`}</td>
        </tr>`)}
    </tbody>
  </table>`}function sn(){let[e,t]=h(0);se(()=>t(a=>a+1),1e4);let n=x(P.fleet().series,e);if(n.data===null)return n.error?u`<${D} error=${n.error} />`:u`<${O} />`;let o=n.data.points;return u`<div class="charts">
    <${K} title="Calls per bucket" points=${o} series=${[{key:"calls",label:"calls"},{key:"errors",label:"errors"}]} format=${S} />
    <${K} title="Spend" points=${o} series=${[{key:"spendUsd",label:"spend"}]} format=${I} />
    <${K} title="Denials" points=${o} series=${[{key:"denied",label:"denied"}]} format=${S} />
  </div>`}function xt(){let{summary:e,connected:t}=en();return u`<h1>Fleet</h1>
    <p class="muted" role="status">${t?u`<${C} kind="ok">live<//> updated <${U} time=${e?.at} />`:"connecting to the live stream\u2026"}</p>
    ${e===null?u`<${O} />`:u`<${tn} s=${e} />`}
    <h2>Last hour</h2>
    <${sn} />
    <${on} />
    ${e===null?null:u`<${nn} s=${e} />`}`}var an={active:"ok",approved:"muted",draft:"warn"};function rn({name:e,from:t,to:n}){let{data:o,error:a}=x(`/api/templates/${encodeURIComponent(e)}/diff${V({from:t,to:n})}`);return o===null?a?u`<${D} error=${a} />`:u`<${O} />`:o.diff===""?u`<p class="muted">${e}@${t} and @${n} are the same.</p>`:u`<pre class="diff" aria-label=${`diff of ${e} from version ${t} to ${n}`}>${o.diff.split(`
`).map(s=>u`<span class=${s.startsWith("+")&&!s.startsWith("+++")?"add":s.startsWith("-")&&!s.startsWith("---")?"del":""}>${s}\n</span>`)}</pre>`}function ln({t:e,session:t,onDone:n}){let[o,a]=h(e.active??e.latest),[s,r]=h(e.active??1),[i,p]=h(e.latest),$=x(`/api/templates/${encodeURIComponent(e.name)}/versions/${o}`),[l,f]=h(null),_=`/api/templates/${encodeURIComponent(e.name)}`,c=[...e.versions].reverse();return u`<h2>Template ${e.name}</h2>
    <table>
      <caption>Versions of ${e.name}</caption>
      <thead><tr><th scope="col">Version</th><th scope="col">Status</th><th scope="col">Author</th><th scope="col">Reason</th><th scope="col">Reviewer</th><th scope="col">Actions</th></tr></thead>
      <tbody>
        ${c.map(d=>u`<tr>
            <th scope="row">${d.version}</th>
            <td><${C} kind=${an[d.status]}>${d.status}<//></td>
            <td>${d.author}</td><td>${d.reason}</td><td>${d.reviewer?`${d.reviewer}: ${d.reviewReason}`:"\u2013"}</td>
            <td class="actions">
              <button type="button" class="link" onClick=${()=>a(d.version)} aria-label=${`show version ${d.version}`}>show</button>
              ${d.status==="draft"&&W(t,"approver")?u`<${L} id=${`approve-${e.name}-${d.version}`} label=${`Approve ${e.name} version ${d.version}`} onDone=${n} actions=${[{label:`Approve v${d.version}`,done:"Approved: now active.",act:v=>E("POST",`${_}/versions/${d.version}/approve`,{reason:v})}]} />`:null}
              ${d.status==="approved"&&W(t,"admin")?u`<${L} id=${`rollback-${e.name}-${d.version}`} label=${`Roll ${e.name} back to version ${d.version}`} onDone=${n} actions=${[{label:`Roll back to v${d.version}`,danger:!0,done:"Rolled back.",act:v=>E("POST",`${_}/rollback`,{version:d.version,reason:v})}]} />`:null}
            </td>
          </tr>`)}
      </tbody>
    </table>
    <h3>Version ${o}</h3>
    ${$.data?u`<pre class="yaml">${$.data.yaml}</pre>`:u`<${D} error=${$.error} />`}
    <h3>Diff</h3>
    <form class="filters" onSubmit=${d=>d.preventDefault()}>
      <label for="diff-from">From</label>
      <select id="diff-from" value=${s} onChange=${d=>r(Number(d.currentTarget.value))}>${c.map(d=>u`<option value=${d.version}>${d.version}</option>`)}</select>
      <label for="diff-to">To</label>
      <select id="diff-to" value=${i} onChange=${d=>p(Number(d.currentTarget.value))}>${c.map(d=>u`<option value=${d.version}>${d.version}</option>`)}</select>
    </form>
    <${rn} name=${e.name} from=${s} to=${i} />
    ${W(t,"admin")?u`<h3>Propose a new version</h3>
          ${l===null?u`<button type="button" onClick=${()=>f($.data?.yaml??"")}>Start from version ${o}</button>`:u`<${L} id=${`propose-${e.name}`} label=${`Propose a version of ${e.name}`} onDone=${()=>{f(null),n()}} actions=${[{label:"Propose",done:"Proposed: a draft waits for another person\u2019s approval.",act:d=>E("POST",`${_}/versions`,{template:l,reason:d})}]}>
                  <label for=${`yaml-${e.name}`}>Template (YAML)</label>
                  <textarea id=${`yaml-${e.name}`} rows="14" value=${l} onInput=${d=>f(d.currentTarget.value)}></textarea>
                <//>`}`:null}`}function Ct({session:e,name:t}){let[n,o]=h(0),{data:a,error:s}=x(P.templates().templates,n);if(a===null)return s?u`<${D} error=${s} />`:u`<${O} />`;let r=a.templates.find(i=>i.name===t)??null;return u`<h1>Templates</h1>
    <nav aria-label="Templates"><ul class="inline">
      ${a.templates.map(i=>u`<li><a href=${`#/templates/${encodeURIComponent(i.name)}`} aria-current=${i.name===t?"page":void 0}>${i.name}</a>
          <span class="muted">active v${i.active??"\u2013"}${i.latest!==i.active?`, latest v${i.latest}`:""}</span></li>`)}
    </ul></nav>
    ${r===null?u`<p class="muted">Choose a template.</p>`:u`<${ln} key=${`${r.name}-${n}`} t=${r} session=${e} onDone=${()=>o(i=>i+1)} />`}`}var Tt=[["fleet","Fleet"],["agents","Agents"],["approvals","Approvals"],["audit","Audit"],["templates","Templates"]],Pt=E("GET","/console/session");Pt.catch(()=>{});var At=document.querySelector('meta[name="aos-oidc"]')?.getAttribute("content")??null;function cn({onSession:e}){let[t,n]=h(""),[o,a]=h(null),s=async r=>{r.preventDefault();try{e(await E("POST","/console/session",{token:t}))}catch(i){a(i.message)}};return u`<main class="signin" id="main">
    <h1>AOS control</h1>
    ${At===null?null:u`<p><a class="button" href="/console/oidc/login">Sign in with ${At}</a></p>
            <p class="muted">Or with a token:</p>`}
    <form onSubmit=${s}>
      <label for="token">Admin token or JWT</label>
      <input id="token" type="password" autocomplete="current-password" required value=${t} onInput=${r=>n(r.currentTarget.value)} />
      <button type="submit">Sign in</button>
      ${o===null?null:u`<p class="error" role="alert">${o}</p>`}
      <p class="muted">The token stays on the control plane: the browser keeps only an HttpOnly session cookie.</p>
    </form>
  </main>`}var Et=e=>e.page==="fleet"||e.page==="agents"&&e.arg!==null;Et(Y())&&me();function un({session:e,where:t}){switch(Et(t)&&me(),t.page){case"fleet":return u`<${xt} session=${e} />`;case"agents":return t.arg===null?u`<${bt} session=${e} />`:u`<${kt} session=${e} id=${t.arg} />`;case"approvals":return u`<${wt} session=${e} />`;case"audit":return u`<${St} session=${e} query=${t.query} />`;case"templates":return u`<${Ct} session=${e} name=${t.arg} />`;default:return u`<p>No page ${t.page}.</p>`}}function dn(){let[e,t]=h(void 0),[n,o]=h(Y()),a=H(null),s=i=>{qe(i),t(i)};if($e(()=>{Pt.then(s,()=>s(null));let i=()=>o(Y()),p=()=>s(null);return window.addEventListener("hashchange",i),window.addEventListener("aos:signed-out",p),()=>{window.removeEventListener("hashchange",i),window.removeEventListener("aos:signed-out",p)}},[]),M(()=>{document.title=`${Tt.find(([i])=>i===n.page)?.[1]??"AOS"} \xB7 AOS control`,a.current?.focus()},[n.page,n.arg]),e===void 0)return u`<p class="boot">Loading…</p>`;if(e===null)return u`<${cn} onSession=${s} />`;let r=async()=>{let i=await E("DELETE","/console/session").catch(()=>null);typeof i?.logoutUrl=="string"?location.assign(i.logoutUrl):s(null)};return u`<a class="skip" href="#main" onClick=${i=>{i.preventDefault(),a.current.focus()}}>Skip to content</a>
    <header>
      <span class="brand">AOS control</span>
      <nav aria-label="Main">
        <ul>
          ${Tt.map(([i,p])=>u`<li><a href=${`#/${i}`} aria-current=${n.page===i?"page":void 0}>${p}</a></li>`)}
        </ul>
      </nav>
      <span class="who">${e.actor} (${e.role})</span>
      <button type="button" class="link" onClick=${r}>Sign out</button>
    </header>
    <main id="main" tabindex="-1" ref=${a}><${un} session=${e} where=${n} /></main>`}tt(u`<${dn} />`,document.getElementById("root"));
